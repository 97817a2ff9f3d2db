/* SWIG interface of glassmm-pairforce: PairTableForce as a subclass of openmm.CustomNonbondedForce. */
%module(package="glassmm_pairforce") pairforce

%import(module="openmm") "swig/OpenMMSwigHeaders.i"
%include "swig/typemaps.i"
%include <std_string.i>
%include <typemaps.i>

%{
#include "PairTableForce.h"
#include "OpenMM.h"
#include "OpenMMAmoeba.h"
#include "OpenMMDrude.h"
#include "openmm/RPMDIntegrator.h"
#include "openmm/RPMDMonteCarloBarostat.h"
%}

%exception {
    try {
        $action
    } catch (std::exception& e) {
        PyErr_SetString(PyExc_Exception, const_cast<char*>(e.what()));
        return NULL;
    }
}

%apply double& OUTPUT { double& epsilon, double& sigma, double& cutoff, double& shift };

namespace GlassmmPlugin {

class PairTableForce : public OpenMM::CustomNonbondedForce {
public:
    PairTableForce(int numTypes = 1);
    int getNumTypes() const;
    void setPairParameters(int type1, int type2, double epsilon, double sigma, double cutoff, double shift);
    void getPairParameters(int type1, int type2, double& epsilon, double& sigma, double& cutoff, double& shift) const;
    static double ljShift(double epsilon, double sigma, double cutoff);
    double getMaxPairCutoff() const;
    int getParticleType(int index) const;
    void setParticleType(int index, int type);
    double getNeighborSkin() const;
    void setNeighborSkin(double skin);
    std::string getTableEnergyFunction() const;
    void updateParametersInContext(OpenMM::Context& context);

    %extend {
        /** The PairTableForce behind a Force (System.getForce returns it as a CustomNonbondedForce). */
        static GlassmmPlugin::PairTableForce& cast(OpenMM::Force& force) {
            return dynamic_cast<GlassmmPlugin::PairTableForce&>(force);
        }
        /** Whether a Force is a PairTableForce. */
        static bool isinstance(OpenMM::Force& force) {
            return dynamic_cast<GlassmmPlugin::PairTableForce*>(&force) != NULL;
        }
    }
};

}
