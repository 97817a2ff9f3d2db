#ifndef GLASSMM_PAIR_TABLE_KERNELS_H_
#define GLASSMM_PAIR_TABLE_KERNELS_H_

#include "PairTableForce.h"
#include "openmm/KernelImpl.h"
#include "openmm/System.h"
#include "openmm/Platform.h"
#include "openmm/internal/ContextImpl.h"
#include <string>
#include <vector>

namespace GlassmmPlugin {

/**
 * What every kernel reads from a PairTableForce, validated once: types and the pair table as
 * flat symmetric arrays indexed type1*numTypes + type2.
 */
struct PairTableData {
    int numTypes = 0;
    std::vector<int> types;
    std::vector<double> epsilon, sigma, cutoff, shift;
    bool periodic = true;
    double maxCutoff = 0, skin = 0;
    /** Read and check a force (throws OpenMMException naming the problem). */
    static PairTableData fromForce(const PairTableForce& force);
};

/** Computes the PairTableForce. */
class CalcPairTableForceKernel : public OpenMM::KernelImpl {
public:
    static std::string Name() {
        return "CalcGlassmmPairTableForce";
    }
    CalcPairTableForceKernel(std::string name, const OpenMM::Platform& platform) : OpenMM::KernelImpl(name, platform) {
    }
    virtual void initialize(const OpenMM::System& system, const PairTableForce& force) = 0;
    virtual double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) = 0;
    virtual void copyParametersToContext(OpenMM::ContextImpl& context, const PairTableForce& force) = 0;
};

} // namespace GlassmmPlugin

#endif /*GLASSMM_PAIR_TABLE_KERNELS_H_*/
