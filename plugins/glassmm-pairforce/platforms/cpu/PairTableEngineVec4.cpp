/* glassmm-pairforce CPU engine at the default vector width of the build (fvec4: SSE4.1, NEON or
 * OpenMM's portable fallback). Used on processors without AVX2 support in x86 builds that
 * compile it, and on other architectures. Apache-2.0. */

#include "openmm/internal/vectorize.h"

using V = fvec4;

static inline bool anyLane(fvec4 mask) {
    alignas(16) float v[4];
    mask.store(v);
    unsigned bits[4];
    __builtin_memcpy(bits, v, sizeof(bits));
    return (bits[0] | bits[1] | bits[2] | bits[3]) != 0;
}

static inline int countLanes(fvec4 mask) {
    alignas(16) float v[4];
    mask.store(v);
    unsigned bits[4];
    __builtin_memcpy(bits, v, sizeof(bits));
    return (bits[0] != 0) + (bits[1] != 0) + (bits[2] != 0) + (bits[3] != 0);
}

static inline void addToJ(float* f, fvec4 x, fvec4 y, fvec4 z) {
    fvec4 sum = reduceToVec3(x, y, z);
    (fvec4(f) + sum).store(f);
}

static inline int laneBits(fvec4 mask) {
    alignas(16) float v[4];
    mask.store(v);
    unsigned bits[4];
    __builtin_memcpy(bits, v, sizeof(bits));
    return (bits[0] >> 31) | ((bits[1] >> 31) << 1) | ((bits[2] >> 31) << 2) | ((bits[3] >> 31) << 3);
}

struct DBlock {
    double v[4];
};

static inline DBlock loadDBlock(const double* p) {
    return {{p[0], p[1], p[2], p[3]}};
}

static inline fvec4 separation(double x, const DBlock& b) {
    return fvec4((float) (x - b.v[0]), (float) (x - b.v[1]), (float) (x - b.v[2]), (float) (x - b.v[3]));
}

struct DAcc {
    double v[4];
};

static inline DAcc zeroAcc() {
    return {{0.0, 0.0, 0.0, 0.0}};
}

static inline void accumulate(DAcc& a, fvec4 v) {
    alignas(16) float t[4];
    v.store(t);
    for (int l = 0; l < 4; l++)
        a.v[l] += t[l];
}

static inline double total(const DAcc& a) {
    return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]);
}

#include "PairTableEngineImpl.h"

namespace GlassmmPlugin {

class PairTableEngineVec4 : public PairTableEngine<4> {
public:
    std::string isa() const override {
        return "4-wide single precision";
    }
};

CpuPairTableEngine* createPairTableEngineVec4() {
    return new PairTableEngineVec4();
}

} // namespace GlassmmPlugin
