/* glassmm-pairforce: the PairTableForce API. Apache-2.0, part of glassmm. */

#include "PairTableForce.h"
#include "PairTableKernels.h"
#include "internal/PairTableForceImpl.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

using namespace GlassmmPlugin;
using namespace OpenMM;
using namespace std;

namespace {

// Shortest decimal that reads back as the same double, so the expression carries the exact table.
string number(double v) {
    char buf[64];
    auto res = to_chars(buf, buf + sizeof(buf), v);
    return string(buf, res.ptr);
}

} // namespace

const string& PairTableForce::typeParameterName() {
    static const string name = "t";
    return name;
}

PairTableForce::PairTableForce(int numTypes) : CustomNonbondedForce("0"), numTypes(numTypes), skin(-1) {
    if (numTypes < 1)
        throw OpenMMException("PairTableForce: numTypes must be at least 1");
    epsilon.assign(numTypes * numTypes, 0.0);
    sigma.assign(numTypes * numTypes, 0.0);
    cutoff.assign(numTypes * numTypes, 0.0);
    shift.assign(numTypes * numTypes, 0.0);
    addPerParticleParameter(typeParameterName());
    setNonbondedMethod(CustomNonbondedForce::CutoffPeriodic);
    setUseSwitchingFunction(false);
    setUseLongRangeCorrection(false);
    setName("PairTableForce");
    refresh();
}

void PairTableForce::checkType(int type, const char* what) const {
    if (type < 0 || type >= numTypes) {
        stringstream msg;
        msg << "PairTableForce: " << what << " " << type << " out of range 0.." << numTypes - 1;
        throw OpenMMException(msg.str());
    }
}

void PairTableForce::setPairParameters(int type1, int type2, double eps, double sig, double rc, double sh) {
    checkType(type1, "type");
    checkType(type2, "type");
    if (!(eps >= 0) || !isfinite(eps) || !(sig > 0) || !isfinite(sig) || !(rc > 0) || !isfinite(rc) || !isfinite(sh)) {
        stringstream msg;
        msg << "PairTableForce: pair (" << type1 << ", " << type2 << ") needs epsilon >= 0, sigma > 0, cutoff > 0 and a finite "
            << "shift; got " << eps << ", " << sig << ", " << rc << ", " << sh;
        throw OpenMMException(msg.str());
    }
    for (int k : {type1 * numTypes + type2, type2 * numTypes + type1}) {
        epsilon[k] = eps;
        sigma[k] = sig;
        cutoff[k] = rc;
        shift[k] = sh;
    }
    refresh();
}

void PairTableForce::getPairParameters(int type1, int type2, double& eps, double& sig, double& rc, double& sh) const {
    checkType(type1, "type");
    checkType(type2, "type");
    int k = type1 * numTypes + type2;
    eps = epsilon[k];
    sig = sigma[k];
    rc = cutoff[k];
    sh = shift[k];
}

double PairTableForce::ljShift(double eps, double sig, double rc) {
    double x = pow(sig / rc, 6.0);
    return 4.0 * eps * (x * x - x);
}

double PairTableForce::getMaxPairCutoff() const {
    return *max_element(cutoff.begin(), cutoff.end());
}

int PairTableForce::getParticleType(int index) const {
    vector<double> params;
    getParticleParameters(index, params);
    return (int) params[0];
}

void PairTableForce::setParticleType(int index, int type) {
    checkType(type, "particle type");
    setParticleParameters(index, {(double) type});
}

void PairTableForce::setNeighborSkin(double value) {
    if (!(value >= 0) || !isfinite(value))
        throw OpenMMException("PairTableForce: the neighbour skin must be a finite length >= 0 (nm)");
    skin = value;
}

string PairTableForce::getTableEnergyFunction() const {
    // Pairs picked by exact nested select() on a key: t1+t2 names the pair for two species,
    // numTypes*t1+t2 otherwise. The same form as glassmm.potentials.PairTable.
    vector<pair<int, int> > keys;
    string key;
    if (numTypes == 2) {
        keys = {{0, 0}, {0, 1}, {1, 1}};
        key = "t1+t2";
    }
    else {
        for (int a = 0; a < numTypes; a++)
            for (int b = 0; b < numTypes; b++)
                keys.push_back({a, b});
        key = to_string(numTypes) + "*t1+t2";
    }
    auto chain = [&](const vector<double>& values) {
        string expr = number(values[keys.back().first * numTypes + keys.back().second]);
        for (int k = (int) keys.size() - 2; k >= 0; k--)
            expr = "select(p-" + to_string(k) + ", " + expr + ", " + number(values[keys[k].first * numTypes + keys[k].second]) + ")";
        return expr;
    };
    stringstream s;
    s << "step(rc - r) * (4*eps*(x*x - x) - sh);x = (sig/r)^6;";
    s << "eps = " << chain(epsilon) << ";sig = " << chain(sigma) << ";rc = " << chain(cutoff) << ";sh = " << chain(shift) << ";";
    s << "p = " << (numTypes == 1 ? string("0") : key);
    return s.str();
}

void PairTableForce::refresh() {
    setEnergyFunction(getTableEnergyFunction());
    double rc = getMaxPairCutoff();
    if (rc > 0)
        setCutoffDistance(rc);
}

void PairTableForce::updateParametersInContext(Context& context) {
    dynamic_cast<PairTableForceImpl&>(getImplInContext(context)).updateParametersInContext(getContextImpl(context));
}

ForceImpl* PairTableForce::createImpl() const {
    return new PairTableForceImpl(*this);
}

// ---------------------------------------------------------------------------------------------

PairTableData PairTableData::fromForce(const PairTableForce& force) {
    auto refuse = [](const string& what) {
        throw OpenMMException("PairTableForce: " + what + " is not supported (the force evaluates its pair table only; "
                              "use a plain CustomNonbondedForce for that)");
    };
    if (force.getNumExclusions() > 0)
        refuse("exclusions");
    if (force.getNumInteractionGroups() > 0)
        refuse("interaction groups");
    if (force.getNumGlobalParameters() > 0)
        refuse("global parameters");
    if (force.getNumTabulatedFunctions() > 0)
        refuse("tabulated functions");
    if (force.getNumComputedValues() > 0)
        refuse("computed values");
    if (force.getNumEnergyParameterDerivatives() > 0)
        refuse("energy parameter derivatives");
    if (force.getUseSwitchingFunction())
        refuse("a switching function");
    if (force.getUseLongRangeCorrection())
        refuse("the long-range correction");
    if (force.getNumPerParticleParameters() != 1 || force.getPerParticleParameterName(0) != PairTableForce::typeParameterName())
        refuse("a per-particle parameter other than the one type 't'");
    if (force.getEnergyFunction() != force.getTableEnergyFunction())
        refuse("an edited energy function");
    PairTableData d;
    d.numTypes = force.getNumTypes();
    int n = d.numTypes;
    d.epsilon.resize(n * n);
    d.sigma.resize(n * n);
    d.cutoff.resize(n * n);
    d.shift.resize(n * n);
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            int k = a * n + b;
            force.getPairParameters(a, b, d.epsilon[k], d.sigma[k], d.cutoff[k], d.shift[k]);
            if (!(d.cutoff[k] > 0))
                throw OpenMMException("PairTableForce: pair (" + to_string(a) + ", " + to_string(b) + ") has no parameters; "
                                      "call setPairParameters for every pair of types");
        }
    d.maxCutoff = force.getMaxPairCutoff();
    d.skin = force.getNeighborSkin() >= 0 ? force.getNeighborSkin() : 0.12 * d.maxCutoff;
    d.periodic = force.getNonbondedMethod() == CustomNonbondedForce::CutoffPeriodic;
    d.types.resize(force.getNumParticles());
    vector<double> params;
    for (int i = 0; i < force.getNumParticles(); i++) {
        force.getParticleParameters(i, params);
        double t = params[0];
        if (!(t >= 0 && t < n && t == floor(t)))
            throw OpenMMException("PairTableForce: particle " + to_string(i) + " has type " + number(t) + "; types are the integers 0.." +
                                  to_string(n - 1));
        d.types[i] = (int) t;
    }
    return d;
}
