#ifndef GLASSMM_PAIR_TABLE_ENGINE_H_
#define GLASSMM_PAIR_TABLE_ENGINE_H_

/* glassmm-pairforce CPU engine interface: the SIMD kernel lives in a translation unit compiled
 * for its instruction set (PairTableEngineAvx2.cpp), chosen at run time. Apache-2.0. */

#include "PairTableKernels.h"
#include "openmm/Vec3.h"
#include "openmm/cpu/AlignedArray.h"
#include "openmm/internal/ThreadPool.h"
#include <string>
#include <vector>

namespace GlassmmPlugin {

/** Counters for profiling (printed at Context destruction when GLASSMM_PAIRFORCE_STATS=1). */
struct EngineStats {
    long long evaluations = 0, rebuilds = 0, entries = 0, blocks = 0, minImageBlocks = 0;
    double buildSeconds = 0, computeSeconds = 0, prepareSeconds = 0;
    double searchSeconds = 0, searchBusySeconds = 0;  // list builds' neighbour search: wall, and summed over threads
    double pairBusySeconds = 0;                       // pair loops summed over threads (vs computeSeconds: balance)
    double lanePairsInside = 0, lanePairsListed = 0;  // at the last rebuild: pairs within rc vs lane slots listed
};

class CpuPairTableEngine {
public:
    virtual ~CpuPairTableEngine() {
    }
    /** (Re)read the table and the types; the next compute() rebuilds the neighbour list. */
    virtual void setTable(const PairTableData& table) = 0;
    /**
     * Add forces (into each thread's float buffer, OpenMM's CPU platform layout: 4 floats per
     * particle) and return the energy (kJ/mol), accumulated in double per thread and summed in
     * thread order. Work is split statically over blocks, so a given thread count repeats bit for bit.
     */
    virtual double compute(const std::vector<OpenMM::Vec3>& positions, const OpenMM::Vec3* box, OpenMM::ThreadPool& threads,
                           std::vector<OpenMM::AlignedArray<float> >& threadForce, bool includeForces, bool includeEnergy) = 0;
    virtual const EngineStats& stats() const = 0;
    /** SIMD width (particles per block) and instruction set. */
    virtual int width() const = 0;
    virtual std::string isa() const = 0;
};

/** The AVX2/FMA engine (8-wide blocks); only call where isAvx2Supported(). */
CpuPairTableEngine* createPairTableEngineAvx2();
/** The engine for the default vector width of this build (4-wide: SSE4.1, NEON or portable). */
CpuPairTableEngine* createPairTableEngineVec4();

} // namespace GlassmmPlugin

#endif
