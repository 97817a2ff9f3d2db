#ifndef GLASSMM_REFERENCE_PAIR_TABLE_KERNELS_H_
#define GLASSMM_REFERENCE_PAIR_TABLE_KERNELS_H_

#include "PairTableKernels.h"
#include "openmm/reference/ReferenceNeighborList.h"
#include <set>
#include <vector>

namespace GlassmmPlugin {

/**
 * The Reference kernel: the test oracle. Double precision throughout, OpenMM's own voxel-hash
 * pair list at the largest cutoff (independent of the CPU kernel's list), minimum image through
 * ReferenceForce, each pair's own cutoff tested exactly (r^2 < rc_ab^2).
 */
class ReferenceCalcPairTableForceKernel : public CalcPairTableForceKernel {
public:
    ReferenceCalcPairTableForceKernel(std::string name, const OpenMM::Platform& platform) : CalcPairTableForceKernel(name, platform) {
    }
    void initialize(const OpenMM::System& system, const PairTableForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const PairTableForce& force);
private:
    PairTableData table;
    std::vector<double> cutoff2;
    std::vector<std::set<int> > noExclusions;
    OpenMM::NeighborList pairs;
};

} // namespace GlassmmPlugin

#endif
