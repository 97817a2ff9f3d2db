/* glassmm-pairforce common GPU kernel (OpenCL / CUDA / HIP). Apache-2.0, part of glassmm. */

#include "CommonPairTableKernels.h"
#include "CommonPairTableKernelSources.h"
#include "openmm/OpenMMException.h"
#include "openmm/common/ComputeForceInfo.h"
#include "openmm/common/ComputeParameterInfo.h"
#include "openmm/common/ComputeVectorTypes.h"
#include "openmm/common/ContextSelector.h"
#include "openmm/common/NonbondedUtilities.h"
#include "openmm/internal/ContextImpl.h"
#include <cmath>

using namespace GlassmmPlugin;
using namespace OpenMM;
using namespace std;

class CommonCalcPairTableForceKernel::ForceInfo : public ComputeForceInfo {
public:
    explicit ForceInfo(const PairTableForce& force) : force(force) {
    }
    bool areParticlesIdentical(int particle1, int particle2) {
        // OpenMM may reorder particles that are identical to every force: here, same type.
        return force.getParticleType(particle1) == force.getParticleType(particle2);
    }
private:
    const PairTableForce& force;
};

CommonCalcPairTableForceKernel::~CommonCalcPairTableForceKernel() {
}

void CommonCalcPairTableForceKernel::upload(const PairTableData& t) {
    int padded = cc.getPaddedNumAtoms();
    vector<int> typeVec(padded, 0);
    for (size_t i = 0; i < t.types.size(); i++)
        typeVec[i] = t.types[i];
    types.upload(typeVec);
    int n2 = t.numTypes * t.numTypes;
    if (cc.getUseDoublePrecision()) {
        vector<mm_double4> p(n2);
        for (int k = 0; k < n2; k++)
            p[k] = mm_double4(4 * t.epsilon[k], t.sigma[k] * t.sigma[k], t.cutoff[k] * t.cutoff[k], t.shift[k]);
        pairs.upload(p);
    }
    else {
        vector<mm_float4> p(n2);
        for (int k = 0; k < n2; k++)
            p[k] = mm_float4((float) (4 * t.epsilon[k]), (float) (t.sigma[k] * t.sigma[k]), (float) (t.cutoff[k] * t.cutoff[k]),
                             (float) t.shift[k]);
        pairs.upload(p);
    }
}

void CommonCalcPairTableForceKernel::initialize(const System& system, const PairTableForce& force) {
    ContextSelector selector(cc);
    table = PairTableData::fromForce(force);
    int forceIndex;
    for (forceIndex = 0; forceIndex < system.getNumForces() && &system.getForce(forceIndex) != &force; ++forceIndex)
        ;
    string prefix = "glassmm" + cc.intToString(forceIndex) + "_";
    int n2 = table.numTypes * table.numTypes;
    types.initialize<int>(cc, cc.getPaddedNumAtoms(), "glassmmPairTableTypes");
    if (cc.getUseDoublePrecision())
        pairs.initialize<mm_double4>(cc, n2, "glassmmPairTableParams");
    else
        pairs.initialize<mm_float4>(cc, n2, "glassmmPairTableParams");
    upload(table);
    int numParticles = (int) table.types.size();
    vector<vector<int> > exclusionList(numParticles);
    for (int i = 0; i < numParticles; i++)
        exclusionList[i].push_back(i);
    map<string, string> replacements;
    replacements["PAIRS"] = prefix + "pairs";
    replacements["TYPE1"] = prefix + "types1";
    replacements["TYPE2"] = prefix + "types2";
    replacements["NUM_TYPES"] = cc.intToString(table.numTypes);
    string source = cc.replaceStrings(CommonPairTableKernelSources::pairTable, replacements);
    NonbondedUtilities& nb = cc.getNonbondedUtilities();
    nb.addInteraction(true, table.periodic, true, table.maxCutoff, exclusionList, source, force.getForceGroup());
    nb.addParameter(ComputeParameterInfo(types, prefix + "types", "int", 1));
    nb.addArgument(ComputeParameterInfo(pairs, prefix + "pairs", "real", 4));
    info = new ForceInfo(force);
    cc.addForce(info);
}

double CommonCalcPairTableForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    // The pair code runs inside the shared nonbonded kernel; its energy joins the context's sum.
    return 0.0;
}

void CommonCalcPairTableForceKernel::copyParametersToContext(ContextImpl& context, const PairTableForce& force) {
    ContextSelector selector(cc);
    PairTableData fresh = PairTableData::fromForce(force);
    if (fresh.types.size() != table.types.size())
        throw OpenMMException("PairTableForce.updateParametersInContext: the number of particles has changed");
    if (fresh.numTypes != table.numTypes)
        throw OpenMMException("PairTableForce.updateParametersInContext: the number of types has changed");
    if (fresh.maxCutoff != table.maxCutoff)
        throw OpenMMException("PairTableForce.updateParametersInContext: the largest pair cutoff cannot change in a GPU Context");
    table = fresh;
    upload(table);
    cc.invalidateMolecules(info);  // types changed: which particles count as identical changed
}
