/* glassmm-pairforce: the common kernel registered on OpenMM's CUDA platform. Apache-2.0. */

#include "CommonPairTableKernels.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"
#include "openmm/cuda/CudaContext.h"
#include "openmm/cuda/CudaPlatform.h"

using namespace GlassmmPlugin;
using namespace OpenMM;

namespace {

class CudaPairTableKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
        CudaContext& cl = *static_cast<CudaPlatform::PlatformData*>(context.getPlatformData())->contexts[0];
        if (name == CalcPairTableForceKernel::Name())
            return new CommonCalcPairTableForceKernel(name, platform, cl);
        throw OpenMMException("glassmm-pairforce CUDA: no kernel named " + name);
    }
};

} // namespace

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "CUDA")
            platform.registerKernelFactory(CalcPairTableForceKernel::Name(), new CudaPairTableKernelFactory());
    }
}
