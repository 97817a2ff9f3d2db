#ifndef GLASSMM_PAIR_TABLE_FORCE_H_
#define GLASSMM_PAIR_TABLE_FORCE_H_

/* glassmm-pairforce: multi-species Lennard-Jones with per-pair cutoffs and shifts for OpenMM.
 * Apache-2.0, part of glassmm. */

#include "openmm/Context.h"
#include "openmm/CustomNonbondedForce.h"
#include <string>
#include <vector>

namespace GlassmmPlugin {

/**
 * A multi-species Lennard-Jones force defined by a table of species pairs:
 *
 *     U_ab(r) = 4 eps_ab [(sigma_ab/r)^12 - (sigma_ab/r)^6] - shift_ab   for r < cutoff_ab, else 0,
 *
 * with each particle's species the integer per-particle parameter "t" (0 .. numTypes-1).
 *
 * It is a CustomNonbondedForce whose energy function is generated from the table (exact nested
 * select() on the pair key), so code that inspects CustomNonbondedForces (per-particle "t", the
 * expression, the cutoff, the name) sees the truth; but a Context evaluates it with this plugin's
 * compiled kernels (Reference, CPU, and the common GPU layer for OpenCL/CUDA/HIP) instead of
 * compiling the expression. The CustomNonbondedForce features that the table does not describe
 * (exclusions, interaction groups, global parameters, tabulated functions, computed values,
 * switching, long-range correction, energy parameter derivatives, an edited energy function) are
 * refused with a clear message when a Context is created.
 *
 * Units are OpenMM's: epsilon and shift in kJ/mol, sigma and cutoff in nm.
 */
class PairTableForce : public OpenMM::CustomNonbondedForce {
public:
    /** Create a force for numTypes species (all pairs zero until set) with CutoffPeriodic. */
    explicit PairTableForce(int numTypes = 1);
    /** The number of species. */
    int getNumTypes() const {
        return numTypes;
    }
    /**
     * Set the parameters of the pair (type1, type2) (and of (type2, type1)).
     *
     * @param epsilon  well depth (kJ/mol), >= 0
     * @param sigma    size (nm), > 0
     * @param cutoff   the pair interacts for r < cutoff (nm), > 0
     * @param shift    energy subtracted inside the cutoff (kJ/mol): ljShift(epsilon, sigma, cutoff)
     *                 for a pair shifted to zero at its cutoff, 0 for a truncated one
     */
    void setPairParameters(int type1, int type2, double epsilon, double sigma, double cutoff, double shift);
    /** Get the parameters of the pair (type1, type2). */
    void getPairParameters(int type1, int type2, double& epsilon, double& sigma, double& cutoff, double& shift) const;
    /** The Lennard-Jones energy at the cutoff, the shift that makes a pair continuous there (kJ/mol). */
    static double ljShift(double epsilon, double sigma, double cutoff);
    /** The largest pair cutoff (nm); also the CustomNonbondedForce cutoff distance. */
    double getMaxPairCutoff() const;
    /** The species of a particle (its per-particle parameter "t"). */
    int getParticleType(int index) const;
    /** Set the species of a particle (its per-particle parameter "t"). */
    void setParticleType(int index, int type);
    /** Neighbour-list skin of the CPU kernel (nm): lists hold pairs within cutoff_ab + skin and are
     * rebuilt when a particle has moved more than skin/2. */
    double getNeighborSkin() const {
        return skin;
    }
    void setNeighborSkin(double skin);
    /** The energy function this table stands for (what getEnergyFunction() returns unless edited). */
    std::string getTableEnergyFunction() const;
    /**
     * Copy the particle types and the pair table into a Context (e.g. after a swap move changed
     * types, or after new pair parameters). The number of particles and species must not change.
     */
    void updateParametersInContext(OpenMM::Context& context);
    /** The name of the per-particle type parameter. */
    static const std::string& typeParameterName();
protected:
    OpenMM::ForceImpl* createImpl() const;
private:
    void checkType(int type, const char* what) const;
    void refresh();
    int numTypes;
    std::vector<double> epsilon, sigma, cutoff, shift;  // numTypes x numTypes, symmetric
    double skin;
};

} // namespace GlassmmPlugin

#endif /*GLASSMM_PAIR_TABLE_FORCE_H_*/
