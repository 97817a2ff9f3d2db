#ifndef GLASSMM_COMMON_PAIR_TABLE_KERNELS_H_
#define GLASSMM_COMMON_PAIR_TABLE_KERNELS_H_

/* glassmm-pairforce on OpenMM's common GPU layer: one source for OpenCL, CUDA and HIP. The pair
 * code runs inside OpenMM's own nonbonded tile kernel (NonbondedUtilities), which supplies the
 * neighbour list and force accumulation. Apache-2.0. */

#include "PairTableKernels.h"
#include "openmm/common/ComputeArray.h"
#include "openmm/common/ComputeContext.h"
#include <memory>

namespace GlassmmPlugin {

class CommonCalcPairTableForceKernel : public CalcPairTableForceKernel {
public:
    CommonCalcPairTableForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::ComputeContext& cc)
        : CalcPairTableForceKernel(name, platform), cc(cc) {
    }
    ~CommonCalcPairTableForceKernel();
    void initialize(const OpenMM::System& system, const PairTableForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const PairTableForce& force);
private:
    class ForceInfo;
    void upload(const PairTableData& table);
    OpenMM::ComputeContext& cc;
    ForceInfo* info = nullptr;
    PairTableData table;
    OpenMM::ComputeArray types, pairs;
};

} // namespace GlassmmPlugin

#endif
