/* glassmm-pairforce: the common kernel registered on OpenMM's OpenCL platform. Apache-2.0. */

#include "CommonPairTableKernels.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"
#include "openmm/opencl/OpenCLContext.h"
#include "openmm/opencl/OpenCLPlatform.h"

using namespace GlassmmPlugin;
using namespace OpenMM;

namespace {

class OpenCLPairTableKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
        OpenCLContext& cl = *static_cast<OpenCLPlatform::PlatformData*>(context.getPlatformData())->contexts[0];
        if (name == CalcPairTableForceKernel::Name())
            return new CommonCalcPairTableForceKernel(name, platform, cl);
        throw OpenMMException("glassmm-pairforce OpenCL: no kernel named " + name);
    }
};

} // namespace

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "OpenCL")
            platform.registerKernelFactory(CalcPairTableForceKernel::Name(), new OpenCLPairTableKernelFactory());
    }
}
