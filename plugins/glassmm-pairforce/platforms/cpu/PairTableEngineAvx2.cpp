/* glassmm-pairforce CPU engine for AVX2 + FMA: 8-wide blocks of fvec8 (OpenMM's vectorize
 * headers). Compiled with -mavx2 -mfma; used only where the processor reports AVX2. Apache-2.0. */

#include "openmm/internal/vectorizeAvx2.h"

using V = fvec8;

static inline bool anyLane(fvec8 mask) {
    return _mm256_movemask_ps(mask.val) != 0;
}

static inline int countLanes(fvec8 mask) {
    return __builtin_popcount(_mm256_movemask_ps(mask.val));
}

/** Add the lane sums of (x, y, z) to the three floats at f (a 4-float force row). */
static inline void addToJ(float* f, fvec8 x, fvec8 y, fvec8 z) {
    fvec4 sum = reduceToVec3(x, y, z);
    (fvec4(f) + sum).store(f);
}

static inline int laneBits(fvec8 mask) {
    return _mm256_movemask_ps(mask.val);
}

#include "PairTableEngineImpl.h"

namespace GlassmmPlugin {

class PairTableEngineAvx2 : public PairTableEngine<8> {
public:
    std::string isa() const override {
        return "AVX2+FMA, 8-wide single precision";
    }
};

CpuPairTableEngine* createPairTableEngineAvx2() {
    return new PairTableEngineAvx2();
}

} // namespace GlassmmPlugin
