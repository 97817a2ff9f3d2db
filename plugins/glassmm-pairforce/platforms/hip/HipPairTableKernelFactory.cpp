/* glassmm-pairforce: the common kernel registered on OpenMM's HIP platform. Apache-2.0. */

#include "CommonPairTableKernels.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"
#include "openmm/hip/HipContext.h"
#include "openmm/hip/HipPlatform.h"

using namespace GlassmmPlugin;
using namespace OpenMM;

namespace {

class HipPairTableKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
        HipContext& cl = *static_cast<HipPlatform::PlatformData*>(context.getPlatformData())->contexts[0];
        if (name == CalcPairTableForceKernel::Name())
            return new CommonCalcPairTableForceKernel(name, platform, cl);
        throw OpenMMException("glassmm-pairforce HIP: no kernel named " + name);
    }
};

} // namespace

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "HIP")
            platform.registerKernelFactory(CalcPairTableForceKernel::Name(), new HipPairTableKernelFactory());
    }
}
