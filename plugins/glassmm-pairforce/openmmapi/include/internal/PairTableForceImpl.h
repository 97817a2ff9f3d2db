#ifndef GLASSMM_PAIR_TABLE_FORCE_IMPL_H_
#define GLASSMM_PAIR_TABLE_FORCE_IMPL_H_

#include "PairTableForce.h"
#include "openmm/Kernel.h"
#include "openmm/internal/ForceImpl.h"
#include <map>
#include <string>
#include <vector>

namespace GlassmmPlugin {

class PairTableForceImpl : public OpenMM::ForceImpl {
public:
    explicit PairTableForceImpl(const PairTableForce& owner) : owner(owner) {
    }
    void initialize(OpenMM::ContextImpl& context);
    const PairTableForce& getOwner() const {
        return owner;
    }
    void updateContextState(OpenMM::ContextImpl& context, bool& forcesInvalid) {
    }
    double calcForcesAndEnergy(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy, int groups);
    std::map<std::string, double> getDefaultParameters() {
        return std::map<std::string, double>();
    }
    std::vector<std::string> getKernelNames();
    void updateParametersInContext(OpenMM::ContextImpl& context);
private:
    const PairTableForce& owner;
    OpenMM::Kernel kernel;
};

} // namespace GlassmmPlugin

#endif /*GLASSMM_PAIR_TABLE_FORCE_IMPL_H_*/
