// glassmm-pairforce: one pair of the multi-species Lennard-Jones table, inside OpenMM's common
// nonbonded tile kernel (OpenCL / CUDA / HIP). PAIRS holds (4 eps, sigma^2, cutoff^2, shift) per
// type pair; the interaction's cutoff is the largest pair cutoff, each pair tests its own.
#ifdef USE_CUTOFF
if (!isExcluded && r2 < CUTOFF_SQUARED) {
#else
if (!isExcluded) {
#endif
    real4 pairParams = PAIRS[TYPE1*NUM_TYPES + TYPE2];
    if (r2 < pairParams.z) {
        real invR2 = invR*invR;
        real sr2 = pairParams.y*invR2;
        real sr6 = sr2*sr2*sr2;
        tempEnergy += pairParams.x*(sr6*sr6 - sr6) - pairParams.w;
        // dEdR is -(dU/dr)/r = 24 eps (2 sr^12 - sr^6) / r^2 (the custom-nonbonded convention)
        dEdR += 6*pairParams.x*sr6*(2*sr6 - 1)*invR2;
    }
}
