/* glassmm-pairforce: Reference kernel and its factory. Apache-2.0, part of glassmm. */

#include "ReferencePairTableKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/KernelFactory.h"
#include "openmm/reference/ReferenceForce.h"
#include "openmm/reference/ReferencePlatform.h"
#include "openmm/internal/windowsExport.h"

using namespace GlassmmPlugin;
using namespace OpenMM;
using namespace std;

static vector<Vec3>& extractPositions(ContextImpl& context) {
    auto* data = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
    return *data->positions;
}

static vector<Vec3>& extractForces(ContextImpl& context) {
    auto* data = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
    return *data->forces;
}

static Vec3* extractBoxVectors(ContextImpl& context) {
    auto* data = reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
    return data->periodicBoxVectors;
}

void ReferenceCalcPairTableForceKernel::initialize(const System& system, const PairTableForce& force) {
    table = PairTableData::fromForce(force);
    cutoff2.resize(table.cutoff.size());
    for (size_t k = 0; k < cutoff2.size(); k++)
        cutoff2[k] = table.cutoff[k] * table.cutoff[k];
    noExclusions.assign(table.types.size(), set<int>());
}

double ReferenceCalcPairTableForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    vector<Vec3>& pos = extractPositions(context);
    vector<Vec3>& force = extractForces(context);
    Vec3* box = extractBoxVectors(context);
    int n = (int) table.types.size();
    if (table.periodic) {
        double minEdge = min(box[0][0], min(box[1][1], box[2][2]));
        if (minEdge < 2 * table.maxCutoff)
            throw OpenMMException("PairTableForce: the periodic box size has decreased to less than twice the largest pair cutoff.");
    }
    computeNeighborListVoxelHash(pairs, n, pos, noExclusions, box, table.periodic, table.maxCutoff, 0.0, false);
    const int nt = table.numTypes;
    double energy = 0;
    for (const AtomPair& pr : pairs) {
        int i = pr.first, j = pr.second;
        Vec3 d = table.periodic ? ReferenceForce::getDeltaRPeriodic(pos[i], pos[j], box) : ReferenceForce::getDeltaR(pos[i], pos[j]);
        double r2 = d.dot(d);
        int k = table.types[i] * nt + table.types[j];
        if (!(r2 < cutoff2[k]))
            continue;
        double sr2 = table.sigma[k] * table.sigma[k] / r2;
        double sr6 = sr2 * sr2 * sr2;
        if (includeEnergy)
            energy += 4.0 * table.epsilon[k] * (sr6 * sr6 - sr6) - table.shift[k];
        if (includeForces) {
            // d = r_j - r_i; -dU/dr / r = 24 eps (2 sr12 - sr6) / r^2 pushes i along -d
            double fr = 24.0 * table.epsilon[k] * (2.0 * sr6 * sr6 - sr6) / r2;
            force[i] -= d * fr;
            force[j] += d * fr;
        }
    }
    return energy;
}

void ReferenceCalcPairTableForceKernel::copyParametersToContext(ContextImpl& context, const PairTableForce& force) {
    PairTableData fresh = PairTableData::fromForce(force);
    if (fresh.types.size() != table.types.size())
        throw OpenMMException("PairTableForce.updateParametersInContext: the number of particles has changed");
    if (fresh.numTypes != table.numTypes)
        throw OpenMMException("PairTableForce.updateParametersInContext: the number of types has changed");
    initialize(context.getSystem(), force);
}

// ---------------------------------------------------------------------------------------------

namespace {

class ReferencePairTableKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
        if (name == CalcPairTableForceKernel::Name())
            return new ReferenceCalcPairTableForceKernel(name, platform);
        throw OpenMMException("glassmm-pairforce Reference: no kernel named " + name);
    }
};

} // namespace

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    // Reference, and CPU as a fallback (the CPU plugin, loaded after this one, replaces it):
    // the CPU platform derives from Reference and reads the same position and force arrays.
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "Reference" || platform.getName() == "CPU")
            platform.registerKernelFactory(CalcPairTableForceKernel::Name(), new ReferencePairTableKernelFactory());
    }
}
