/* glassmm-pairforce: the ForceImpl that routes a PairTableForce to its kernels. Apache-2.0. */

#include "internal/PairTableForceImpl.h"
#include "PairTableKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"

using namespace GlassmmPlugin;
using namespace OpenMM;
using namespace std;

void PairTableForceImpl::initialize(ContextImpl& context) {
    const System& system = context.getSystem();
    if (owner.getNumParticles() != system.getNumParticles())
        throw OpenMMException("PairTableForce must have exactly as many particles as the System it belongs to.");
    PairTableData::fromForce(owner);  // refuse a bad force before any kernel sees it
    kernel = context.getPlatform().createKernel(CalcPairTableForceKernel::Name(), context);
    kernel.getAs<CalcPairTableForceKernel>().initialize(system, owner);
}

double PairTableForceImpl::calcForcesAndEnergy(ContextImpl& context, bool includeForces, bool includeEnergy, int groups) {
    if ((groups & (1 << owner.getForceGroup())) != 0)
        return kernel.getAs<CalcPairTableForceKernel>().execute(context, includeForces, includeEnergy);
    return 0.0;
}

vector<string> PairTableForceImpl::getKernelNames() {
    return {CalcPairTableForceKernel::Name()};
}

void PairTableForceImpl::updateParametersInContext(ContextImpl& context) {
    kernel.getAs<CalcPairTableForceKernel>().copyParametersToContext(context, owner);
    context.systemChanged();
}
