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

/** W lanes of double coordinates (a block's particles), for exact separations. */
struct DBlock {
    __m256d lo, hi;
};

static inline DBlock loadDBlock(const double* p) {
    return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)};
}

/** x - lane coordinates in double, rounded once to single precision. */
static inline fvec8 separation(double x, const DBlock& b) {
    __m256d v = _mm256_set1_pd(x);
    return fvec8(_mm256_set_m128(_mm256_cvtpd_ps(_mm256_sub_pd(v, b.hi)), _mm256_cvtpd_ps(_mm256_sub_pd(v, b.lo))));
}

/** A double-precision accumulator for W single-precision lanes. */
struct DAcc {
    __m256d lo, hi;
};

static inline DAcc zeroAcc() {
    return {_mm256_setzero_pd(), _mm256_setzero_pd()};
}

static inline void accumulate(DAcc& a, fvec8 v) {
    a.lo = _mm256_add_pd(a.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v.val)));
    a.hi = _mm256_add_pd(a.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v.val, 1)));
}

static inline double total(const DAcc& a) {
    alignas(32) double t[4];
    _mm256_store_pd(t, _mm256_add_pd(a.lo, a.hi));
    return (t[0] + t[1]) + (t[2] + t[3]);
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
