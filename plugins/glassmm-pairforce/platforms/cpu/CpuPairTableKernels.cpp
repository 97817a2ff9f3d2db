/* glassmm-pairforce CPU kernel: OpenMM's CPU platform data (thread pool, per-thread float force
 * buffers) driving the SIMD engine. Apache-2.0, part of glassmm. */

#include "PairTableEngine.h"
#include "PairTableKernels.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/cpu/CpuPlatform.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"
#include <cstdio>
#include <cstdlib>
#include <memory>

using namespace GlassmmPlugin;
using namespace OpenMM;
using namespace std;

namespace {

CpuPairTableEngine* createEngine() {
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#ifdef GLASSMM_PAIRFORCE_AVX2
    // hardware.h's isAvx2Supported() answers only in translation units compiled with -mavx2.
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return createPairTableEngineAvx2();
#endif
#ifdef GLASSMM_PAIRFORCE_VEC4
    return createPairTableEngineVec4();
#else
    return nullptr;
#endif
#else
    return createPairTableEngineVec4();
#endif
}

class CpuCalcPairTableForceKernel : public CalcPairTableForceKernel {
public:
    CpuCalcPairTableForceKernel(string name, const Platform& platform, CpuPlatform::PlatformData& data)
        : CalcPairTableForceKernel(name, platform), data(data) {
    }
    ~CpuCalcPairTableForceKernel() {
        const char* env = getenv("GLASSMM_PAIRFORCE_STATS");
        if (engine && env != nullptr && string(env) == "1") {
            const EngineStats& s = engine->stats();
            fprintf(stderr,
                    "glassmm-pairforce CPU [%s, %d threads]: %lld evaluations, %lld list builds, %.3f s prepare, %.3f s build, "
                    "%.3f s pairs (threads busy %.3f s); search %.3f s (threads busy %.3f s); last list: %lld blocks (%lld minimum-image), %.1f entries/block, lane occupancy %.3f\n",
                    engine->isa().c_str(), data.threads.getNumThreads(), s.evaluations, s.rebuilds, s.prepareSeconds, s.buildSeconds,
                    s.computeSeconds, s.pairBusySeconds, s.searchSeconds, s.searchBusySeconds, s.blocks, s.minImageBlocks, s.blocks ? (double) s.entries / s.blocks : 0.0,
                    s.lanePairsListed > 0 ? s.lanePairsInside / s.lanePairsListed : 0.0);
        }
    }
    void initialize(const System& system, const PairTableForce& force) {
        table = PairTableData::fromForce(force);
        engine.reset(createEngine());
        if (!engine)
            throw OpenMMException("PairTableForce (CPU): no SIMD engine for this processor");
        engine->setTable(table);
    }
    double execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
        auto* ref = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
        return engine->compute(*ref->positions, ref->periodicBoxVectors, data.threads, data.threadForce, includeForces, includeEnergy);
    }
    void copyParametersToContext(ContextImpl& context, const PairTableForce& force) {
        PairTableData fresh = PairTableData::fromForce(force);
        if (fresh.types.size() != table.types.size())
            throw OpenMMException("PairTableForce.updateParametersInContext: the number of particles has changed");
        if (fresh.numTypes != table.numTypes)
            throw OpenMMException("PairTableForce.updateParametersInContext: the number of types has changed");
        table = fresh;
        engine->setTable(table);
    }
private:
    CpuPlatform::PlatformData& data;
    PairTableData table;
    unique_ptr<CpuPairTableEngine> engine;
};

class CpuPairTableKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(string name, const Platform& platform, ContextImpl& context) const {
        if (name == CalcPairTableForceKernel::Name())
            return new CpuCalcPairTableForceKernel(name, platform, CpuPlatform::getPlatformData(context));
        throw OpenMMException("glassmm-pairforce CPU: no kernel named " + name);
    }
};

} // namespace

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    unique_ptr<CpuPairTableEngine> probe(createEngine());
    if (!probe)
        return;  // the Reference kernel (registered on CPU by the Reference library) stays
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "CPU")
            platform.registerKernelFactory(CalcPairTableForceKernel::Name(), new CpuPairTableKernelFactory());
    }
}

/** Which CPU engine this library uses here ("" when none: the Reference kernel serves the CPU platform). */
extern "C" OPENMM_EXPORT const char* glassmmPairForceCpuEngine() {
    static string isa;
    unique_ptr<CpuPairTableEngine> probe(createEngine());
    isa = probe ? probe->isa() : "";
    return isa.c_str();
}
