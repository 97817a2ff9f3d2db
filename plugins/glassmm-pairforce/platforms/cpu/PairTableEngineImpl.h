/* glassmm-pairforce CPU engine: a cluster (block) half neighbour list with a skin and per-pair
 * cutoffs, and a SIMD pair kernel over it. Included by one translation unit per instruction set,
 * after the vectorize header that defines the vector type V (fvec8 or fvec4). Apache-2.0.
 *
 * Layout. Particles are sorted along a Morton curve of small cells, so W consecutive particles
 * (a block, W = SIMD width) sit close together. Each block has a list of neighbour particles j
 * that come later in the sorted order (a half list: every pair once) and have at least one lane
 * within rc_ab + skin; entries carry the periodic image of j as a shift index, fixed at build time,
 * so the kernel needs no minimum-image arithmetic. Positions are stored per particle as
 * x - offset, where offset (a multiple of the box, chosen at build time) keeps every block
 * contiguous in space and stays fixed until the next build, so stored coordinates move
 * continuously. Blocks wider than the box allows (small boxes) are flagged and take the
 * minimum image per lane instead.
 *
 * The list is rebuilt when a particle has moved more than skin/2 since the last build (in double
 * precision), when the box changes, or when parameters change. Pair arithmetic is single
 * precision (as OpenMM's CPU platform does), energies are accumulated per block in single and
 * per thread in double.
 */

#include "PairTableEngine.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <numeric>
#include <string>

namespace GlassmmPlugin {
namespace {

using OpenMM::Vec3;

constexpr int SHIFT_BITS = 7;      // 5 image offsets (-2..2 boxes) per dimension: 125 codes
constexpr int SHIFT_MASK = (1 << SHIFT_BITS) - 1;
constexpr int ZERO_SHIFT = 62;     // (2, 2, 2) -> 2*25 + 2*5 + 2
constexpr float FAR_AWAY = 1.0e6f; // where padding lanes sit
constexpr int SEARCH_CHUNK = 4;    // blocks per unit of work in a list build's search
#ifndef GLASSMM_SUB_LEVELS
#define GLASSMM_SUB_LEVELS 1
#endif
constexpr int SUB_LEVELS = GLASSMM_SUB_LEVELS;  // Morton levels inside a cell for the sort

inline int shiftCode(int nx, int ny, int nz) {
    return (nx + 2) * 25 + (ny + 2) * 5 + (nz + 2);
}

inline int floorDiv(int a, int b) {
    return (a >= 0 ? a / b : -((-a + b - 1) / b));
}

template <int W>
struct Lanes {
    alignas(32) float v[W];
};

template <int W>
class PairTableEngine : public CpuPairTableEngine {
public:
    void setTable(const PairTableData& t) override {
        table = t;
        S = t.numTypes;
        n = (int) t.types.size();
        nPad = ((n + W - 1) / W) * W;
        nBlocks = nPad / W;
        skin = t.skin;
        int npairs = S * S;
        eps4.resize(npairs);
        eps24.resize(npairs);
        sig2.resize(npairs);
        rc2.resize(npairs);
        shiftE.resize(npairs);
        list2.resize(npairs);
        for (int k = 0; k < npairs; k++) {
            eps4[k] = (float) (4.0 * t.epsilon[k]);
            eps24[k] = (float) (24.0 * t.epsilon[k]);
            sig2[k] = (float) (t.sigma[k] * t.sigma[k]);
            rc2[k] = (float) (t.cutoff[k] * t.cutoff[k]);
            shiftE[k] = (float) t.shift[k];
            double lc = t.cutoff[k] + skin;
            list2[k] = (float) (lc * lc);  // widened in build() by the float rounding of the box's coordinates
        }
        maxList = t.maxCutoff + skin;
        needRebuild = true;
        const char* env = std::getenv("GLASSMM_PAIRFORCE_STATS");
        collectStats = env != nullptr && std::string(env) == "1";
        offset.assign(n, Vec3());
        refPos.assign(n, Vec3());
        order.resize(nPad);
        xs.resize(nPad);
        xd.assign(nPad, 0.0);
        yd.assign(nPad, 0.0);
        zd.assign(nPad, 0.0);
        ys.resize(nPad);
        zs.resize(nPad);
        ts.assign(nPad + W, 0);
    }

    const EngineStats& stats() const override {
        return stat;
    }
    int width() const override {
        return W;
    }

    double compute(const std::vector<Vec3>& pos, const Vec3* box, OpenMM::ThreadPool& threads,
                   std::vector<OpenMM::AlignedArray<float> >& threadForce, bool includeForces, bool includeEnergy) override {
        using clock = std::chrono::steady_clock;
        auto t0 = clock::now();
        int numThreads = threads.getNumThreads();
        bool periodic = table.periodic;
        Vec3 L(box[0][0], box[1][1], box[2][2]);
        if (periodic) {
            if (box[0][1] != 0 || box[0][2] != 0 || box[1][0] != 0 || box[1][2] != 0 || box[2][0] != 0 || box[2][1] != 0)
                throw OpenMM::OpenMMException("PairTableForce (CPU): triclinic boxes are not supported; use a rectangular box");
            if (std::min(L[0], std::min(L[1], L[2])) < 2 * table.maxCutoff)
                throw OpenMM::OpenMMException("PairTableForce: the periodic box size has decreased to less than twice the largest pair cutoff.");
            if (L[0] != refBox[0] || L[1] != refBox[1] || L[2] != refBox[2])
                needRebuild = true;
        }
        if (!needRebuild) {
            // Stored coordinates from the current positions, and the displacement test (double):
            // a pair's separation changed by at most the sum of the two largest displacements
            // since the build, so the list stays complete while that sum is below the skin.
            std::vector<double> top1(numThreads, 0.0), top2(numThreads, 0.0);
            threads.execute([&](OpenMM::ThreadPool&, int t) {
                int start = (int) ((long long) nPad * t / numThreads / W) * W, end = (int) ((long long) nPad * (t + 1) / numThreads / W) * W;
                if (t == numThreads - 1)
                    end = nPad;
                double d1 = 0, d2 = 0;
                for (int k = start; k < end; k++) {
                    int i = order[k];
                    if (i < 0)
                        continue;
                    const Vec3& p = pos[i];
                    Vec3 d = p - refPos[i];
                    double d2i = d.dot(d);
                    if (d2i > d2) {
                        if (d2i > d1) {
                            d2 = d1;
                            d1 = d2i;
                        }
                        else
                            d2 = d2i;
                    }
                    xd[k] = p[0] - offset[i][0];
                    yd[k] = p[1] - offset[i][1];
                    zd[k] = p[2] - offset[i][2];
                }
                top1[t] = d1;
                top2[t] = d2;
            });
            threads.waitForThreads();
            double d1 = 0, d2 = 0;
            for (int t = 0; t < numThreads; t++)
                for (double v : {top1[t], top2[t]}) {
                    if (v > d1) {
                        d2 = d1;
                        d1 = v;
                    }
                    else if (v > d2)
                        d2 = v;
                }
            if (std::sqrt(d1) + std::sqrt(d2) > skin * (1.0 - 1e-6))
                needRebuild = true;
        }
        auto t1 = clock::now();
        if (needRebuild)
            build(pos, L, threads);
        auto t2 = clock::now();

        // Image shifts for the box the list was built in.
        for (int a = -2; a <= 2; a++)
            for (int b = -2; b <= 2; b++)
                for (int c = -2; c <= 2; c++) {
                    int code = shiftCode(a, b, c);
                    shx[code] = periodic ? (float) (a * L[0]) : 0.0f;
                    shy[code] = periodic ? (float) (b * L[1]) : 0.0f;
                    shz[code] = periodic ? (float) (c * L[2]) : 0.0f;
                    shxd[code] = periodic ? a * L[0] : 0.0;
                    shyd[code] = periodic ? b * L[1] : 0.0;
                    shzd[code] = periodic ? c * L[2] : 0.0;
                }
        invL[0] = (float) (1.0 / L[0]);
        invL[1] = (float) (1.0 / L[1]);
        invL[2] = (float) (1.0 / L[2]);
        boxf[0] = (float) L[0];
        boxf[1] = (float) L[1];
        boxf[2] = (float) L[2];

        if ((int) partition.size() != numThreads + 1)
            makePartition(numThreads);
        if ((int) fbuf.size() < numThreads)
            fbuf.resize(numThreads);
        std::vector<double> energy(numThreads, 0.0), busy(numThreads, 0.0);
        threads.execute([&](OpenMM::ThreadPool&, int t) {
            auto c0 = collectStats ? clock::now() : clock::time_point();  // threads' busy time: only for the stats
            int b0 = partition[t], b1 = partition[t + 1];
            if (b0 >= b1)
                return;
            int first = b0 * W;  // this thread writes forces to sorted rows >= first only (half list)
            OpenMM::AlignedArray<float>& f = fbuf[t];
            if (includeForces) {
                if ((int) f.size() < 4 * nPad)
                    f.resize(4 * nPad);
                std::memset(&f[4 * first], 0, sizeof(float) * 4 * (nPad - first));
            }
            double e = 0;
            std::vector<V> scratch(6 * S);
            for (int b = b0; b < b1; b++) {
                if (includeForces) {
                    if (includeEnergy)
                        e += block<true, true>(b, &f[0], scratch.data());
                    else
                        block<false, true>(b, &f[0], scratch.data());
                }
                else if (includeEnergy)
                    e += block<true, false>(b, nullptr, scratch.data());
            }
            energy[t] = e;
            if (includeForces) {
                float* out = &threadForce[t][0];
                for (int k = first; k < nPad; k++) {
                    int i = order[k];
                    if (i < 0)
                        continue;
                    out[4 * i] += f[4 * k];
                    out[4 * i + 1] += f[4 * k + 1];
                    out[4 * i + 2] += f[4 * k + 2];
                }
            }
            if (collectStats)
                busy[t] = std::chrono::duration<double>(clock::now() - c0).count();
        });
        threads.waitForThreads();
        for (double v : busy)
            stat.pairBusySeconds += v;
        double total = 0;
        for (double e : energy)
            total += e;
        auto t3 = clock::now();
        stat.evaluations++;
        stat.prepareSeconds += std::chrono::duration<double>(t1 - t0).count();
        stat.buildSeconds += std::chrono::duration<double>(t2 - t1).count();
        stat.computeSeconds += std::chrono::duration<double>(t3 - t2).count();
        return total;
    }

private:
    // ------------------------------------------------------------------------------- kernel
    /** Per-lane parameter vectors of block b against each neighbour type (6 per type). */
    void laneParameters(int b, V* P) const {
        Lanes<W> tmp[6];
        for (int tj = 0; tj < S; tj++) {
            for (int l = 0; l < W; l++) {
                int k = ts[b * W + l] * S + tj;
                tmp[0].v[l] = eps4[k];
                tmp[1].v[l] = eps24[k];
                tmp[2].v[l] = sig2[k];
                tmp[3].v[l] = order[b * W + l] < 0 ? -1.0f : rc2[k];  // padding lanes never interact
                tmp[4].v[l] = shiftE[k];
                tmp[5].v[l] = list2[k];
            }
            for (int q = 0; q < 6; q++)
                P[6 * tj + q] = V(tmp[q].v);
        }
    }

    template <bool ENERGY, bool FORCES, bool MINIMG>
    inline void pairs(int b, const int* __restrict e, const int* eEnd, const V* P, const DBlock& bx, const DBlock& by,
                      const DBlock& bz, V& fx, V& fy, V& fz, DAcc& eacc, float* __restrict f, const Lanes<W>* laneMask) const {
        // Separations are taken in double (exact to one rounding whatever the coordinates' size)
        // and rounded once to single precision, in which the rest of the pair runs.
        const double* __restrict px = xd.data();
        const double* __restrict py = yd.data();
        const double* __restrict pz = zd.data();
        const int* __restrict pt = ts.data();
        const double* __restrict sx = shxd;
        const double* __restrict sy = shyd;
        const double* __restrict sz = shzd;
        const V lx(boxf[0]), ly(boxf[1]), lz(boxf[2]), ilx(invL[0]), ily(invL[1]), ilz(invL[2]);
        const V one(1.0f);
        const int base = b * W;
        for (; e < eEnd; ++e) {
            const int entry = *e;
            const int j = entry >> SHIFT_BITS;
            const int s = entry & SHIFT_MASK;
            V dx = separation(px[j] + sx[s], bx);
            V dy = separation(py[j] + sy[s], by);
            V dz = separation(pz[j] + sz[s], bz);
            if (MINIMG) {
                dx = dx - lx * round(dx * ilx);
                dy = dy - ly * round(dy * ily);
                dz = dz - lz * round(dz * ilz);
            }
            const V r2 = dx * dx + dy * dy + dz * dz;
            const V* p = P + 6 * pt[j];
            V inside = r2 < p[3];
            if (laneMask != nullptr)
                inside = inside & V(laneMask[j - base].v);
            if (!anyLane(inside))
                continue;
            const V inv = one / r2;
            const V sr2 = p[2] * inv;
            const V sr6 = sr2 * sr2 * sr2;
            if (ENERGY)
                accumulate(eacc, blendZero(p[0] * (sr6 * sr6 - sr6) - p[4], inside));  // in double: pair energies cancel
            if (FORCES) {
                const V fr = blendZero(p[1] * (sr6 * (sr6 + sr6 - one)) * inv, inside);
                const V gx = dx * fr, gy = dy * fr, gz = dz * fr;  // force on j (d = r_j - r_i)
                fx -= gx;
                fy -= gy;
                fz -= gz;
                addToJ(f + 4 * j, gx, gy, gz);
            }
        }
    }

    template <bool ENERGY, bool FORCES>
    double block(int b, float* f, V* P) const {
        laneParameters(b, P);
        const DBlock bx = loadDBlock(&xd[b * W]), by = loadDBlock(&yd[b * W]), bz = loadDBlock(&zd[b * W]);
        V fx(0.0f), fy(0.0f), fz(0.0f);
        DAcc eacc = zeroAcc();
        const int* e = blockEntries[b];
        int nself = blockSelf[b];
        const int* end = e + blockCount[b];
        if (blockMinImage[b]) {
            pairs<ENERGY, FORCES, true>(b, e, e + nself, P, bx, by, bz, fx, fy, fz, eacc, f, selfMask);
            pairs<ENERGY, FORCES, true>(b, e + nself, end, P, bx, by, bz, fx, fy, fz, eacc, f, nullptr);
        }
        else {
            pairs<ENERGY, FORCES, false>(b, e, e + nself, P, bx, by, bz, fx, fy, fz, eacc, f, selfMask);
            pairs<ENERGY, FORCES, false>(b, e + nself, end, P, bx, by, bz, fx, fy, fz, eacc, f, nullptr);
        }
        if (FORCES) {
            Lanes<W> ox, oy, oz;
            fx.store(ox.v);
            fy.store(oy.v);
            fz.store(oz.v);
            float* fb = f + 4 * b * W;
            for (int l = 0; l < W; l++) {
                fb[4 * l] += ox.v[l];
                fb[4 * l + 1] += oy.v[l];
                fb[4 * l + 2] += oz.v[l];
            }
        }
        if (!ENERGY)
            return 0.0;
        return total(eacc);
    }

    // ------------------------------------------------------------------------------- list build
    void build(const std::vector<Vec3>& pos, const Vec3& L, OpenMM::ThreadPool& threads) {
        bool periodic = table.periodic;
        refBox = L;
        // The list test runs in single precision on coordinates up to ~2 box lengths: widen each
        // list range by a safe multiple of that rounding (1e-6 of the box) so no pair is lost to it.
        double margin = 1e-6 * std::max(L[0], std::max(L[1], L[2]));
        if (!periodic)
            for (const Vec3& p : pos)
                margin = std::max(margin, 1e-6 * std::max(std::fabs(p[0]), std::max(std::fabs(p[1]), std::fabs(p[2]))));
        for (int k = 0; k < S * S; k++) {
            double lc = table.cutoff[k] + skin + margin;
            list2[k] = (float) (lc * lc);
        }
        maxList = table.maxCutoff + skin + margin;
        // Domain and wrapped positions.
        Vec3 lo(0, 0, 0), extent = L;
        wrapped.resize(n);
        const int numThreads = threads.getNumThreads();
        if (periodic) {
            threads.execute([&](OpenMM::ThreadPool&, int t) {
                for (int i = (int) ((long long) n * t / numThreads); i < (int) ((long long) n * (t + 1) / numThreads); i++)
                    for (int d = 0; d < 3; d++)
                        wrapped[i][d] = pos[i][d] - L[d] * std::floor(pos[i][d] / L[d]);
            });
            threads.waitForThreads();
        }
        else {
            Vec3 hi = pos.empty() ? Vec3() : pos[0];
            lo = hi;
            for (int i = 0; i < n; i++)
                for (int d = 0; d < 3; d++) {
                    lo[d] = std::min(lo[d], pos[i][d]);
                    hi[d] = std::max(hi[d], pos[i][d]);
                }
            extent = hi - lo;
            for (int i = 0; i < n; i++)
                wrapped[i] = pos[i] - lo;
        }
        // Cells of about W particles (the block size): the sort order and the search grid.
        double volume = std::max(extent[0], 1e-6) * std::max(extent[1], 1e-6) * std::max(extent[2], 1e-6);
        double edge = std::cbrt(volume * W / std::max(n, 1));
        for (int d = 0; d < 3; d++) {
            nc[d] = std::max(1, std::min(1024, (int) std::floor(std::max(extent[d], 1e-6) / edge)));
            cellEdge[d] = std::max(extent[d], 1e-6) / nc[d];
        }
        int ncells = nc[0] * nc[1] * nc[2];
        // Morton rank of every cell.
        std::vector<std::pair<uint64_t, int> > keys(ncells);
        for (int cx = 0; cx < nc[0]; cx++)
            for (int cy = 0; cy < nc[1]; cy++)
                for (int cz = 0; cz < nc[2]; cz++) {
                    uint64_t key = 0;
                    for (int bit = 0; bit < 10; bit++)
                        key |= ((uint64_t) ((cx >> bit) & 1) << (3 * bit + 2)) | ((uint64_t) ((cy >> bit) & 1) << (3 * bit + 1)) |
                               ((uint64_t) ((cz >> bit) & 1) << (3 * bit));
                    int c = (cx * nc[1] + cy) * nc[2] + cz;
                    keys[c] = {key, c};
                }
        std::sort(keys.begin(), keys.end());
        std::vector<int> rankOf(ncells);
        for (int r = 0; r < ncells; r++)
            rankOf[keys[r].second] = r;
        // Counting sort of particles by cell rank and, inside a cell, by the Morton order of its
        // 2^SUB_LEVELS sub-cells per dimension (stable: deterministic). Blocks of W consecutive
        // particles are then compact, and every cell's particles stay contiguous for the search.
        const int subPerDim = 1 << SUB_LEVELS, subCells = subPerDim * subPerDim * subPerDim;
        std::vector<int> bucketOfParticle(n);
        std::vector<int> bucketStart((size_t) ncells * subCells + 1, 0);
        for (int i = 0; i < n; i++) {
            int c[3], sub[3];
            for (int d = 0; d < 3; d++) {
                double u = wrapped[i][d] / cellEdge[d];
                c[d] = std::min(nc[d] - 1, std::max(0, (int) u));
                sub[d] = std::min(subPerDim - 1, std::max(0, (int) ((u - c[d]) * subPerDim)));
            }
            int key = 0;
            for (int bit = 0; bit < SUB_LEVELS; bit++)
                key |= (((sub[0] >> bit) & 1) << (3 * bit + 2)) | (((sub[1] >> bit) & 1) << (3 * bit + 1)) | (((sub[2] >> bit) & 1) << (3 * bit));
            int bucket = rankOf[(c[0] * nc[1] + c[1]) * nc[2] + c[2]] * subCells + key;
            bucketOfParticle[i] = bucket;
            bucketStart[bucket + 1]++;
        }
        for (size_t q = 0; q + 1 < bucketStart.size(); q++)
            bucketStart[q + 1] += bucketStart[q];
        cellStart.assign(ncells + 1, 0);
        for (int r = 0; r <= ncells; r++)
            cellStart[r] = bucketStart[(size_t) r * subCells];
        std::vector<int> fill(bucketStart.begin(), bucketStart.end() - 1);
        for (int i = 0; i < n; i++)
            order[fill[bucketOfParticle[i]]++] = i;
        for (int k = n; k < nPad; k++)
            order[k] = -1;
        gridIndex.resize(ncells);
        for (int r = 0; r < ncells; r++)
            gridIndex[keys[r].second] = r;  // grid cell -> rank
        // Stored coordinates: each block unwrapped around its first particle.
        unwrapCode.assign(nPad + W, ZERO_SHIFT);
        wxs.assign(nPad + W, FAR_AWAY);
        tsFloat.assign(nPad + W, 0.0f);
        wys.assign(nPad + W, FAR_AWAY);
        wzs.assign(nPad + W, FAR_AWAY);
        threads.execute([&](OpenMM::ThreadPool&, int t) {
            for (int b = (int) ((long long) nBlocks * t / numThreads); b < (int) ((long long) nBlocks * (t + 1) / numThreads); b++) {
                int i0 = order[b * W];
                for (int l = 0; l < W; l++) {
                    int k = b * W + l, i = order[k];
                    if (i < 0) {
                        xs[k] = ys[k] = zs[k] = FAR_AWAY + k;
                        xd[k] = yd[k] = zd[k] = FAR_AWAY + k;
                        ts[k] = 0;
                        continue;
                    }
                    int m[3] = {0, 0, 0};
                    Vec3 x = wrapped[i];
                    if (periodic)
                        for (int d = 0; d < 3; d++) {
                            m[d] = (int) std::round((wrapped[i][d] - wrapped[i0][d]) / L[d]);
                            x[d] -= m[d] * L[d];
                        }
                    unwrapCode[k] = shiftCode(m[0], m[1], m[2]);
                    tsFloat[k] = (float) table.types[i];
                    wxs[k] = (float) wrapped[i][0];
                    wys[k] = (float) wrapped[i][1];
                    wzs[k] = (float) wrapped[i][2];
                    offset[i] = pos[i] - x;
                    refPos[i] = pos[i];
                    xs[k] = (float) x[0];
                    ys[k] = (float) x[1];
                    zs[k] = (float) x[2];
                    xd[k] = x[0];
                    yd[k] = x[1];
                    zd[k] = x[2];
                    ts[k] = table.types[i];
                }
            }
        });
        threads.waitForThreads();
        // Neighbour search. Blocks early in the sorted order have more later neighbours (a half
        // list), so an even split by block count leaves one thread with most of the work: threads
        // take chunks of blocks from a shared counter instead. Each chunk keeps its own storage,
        // so a block's list is the same whichever thread built it (results stay deterministic).
        const int chunk = SEARCH_CHUNK, nChunks = (nBlocks + chunk - 1) / chunk;
        if ((int) store.size() < nChunks)
            store.resize(nChunks);
        blockEntries.assign(nBlocks, nullptr);
        blockCount.assign(nBlocks, 0);
        blockSelf.assign(nBlocks, 0);
        blockMinImage.assign(nBlocks, 0);
        std::vector<int> startOf(nBlocks + nChunks, 0);  // per chunk: its blocks' starts, then its end
        std::vector<double> inside(numThreads, 0.0), listed(numThreads, 0.0), busy(numThreads, 0.0);
        std::atomic<int> nextChunk(0);
        auto s0 = std::chrono::steady_clock::now();
        threads.execute([&](OpenMM::ThreadPool&, int t) {
            auto c0 = std::chrono::steady_clock::now();
            std::vector<V> P(6 * S);
            for (int c = nextChunk++; c < nChunks; c = nextChunk++) {
                int b0 = c * chunk, b1 = std::min(nBlocks, b0 + chunk);
                std::vector<int>& out = store[c];
                out.clear();
                int* starts = &startOf[b0 + c];
                for (int b = b0; b < b1; b++) {
                    starts[b - b0] = (int) out.size();
                    searchBlock(b, L, out, P.data(), inside[t], listed[t]);
                }
                starts[b1 - b0] = (int) out.size();
            }
            busy[t] = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
        });
        threads.waitForThreads();
        stat.searchSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
        for (double v : busy)
            stat.searchBusySeconds += v;
        long long total = 0;
        for (int c = 0; c < nChunks; c++) {
            int b0 = c * chunk, b1 = std::min(nBlocks, b0 + chunk);
            const int* starts = &startOf[b0 + c];
            for (int b = b0; b < b1; b++) {
                blockEntries[b] = store[c].data() + starts[b - b0];
                blockCount[b] = starts[b - b0 + 1] - starts[b - b0];
                total += blockCount[b];
            }
        }
        makePartition(numThreads);
        needRebuild = false;
        stat.rebuilds++;
        stat.entries = total;
        stat.blocks = nBlocks;
        stat.minImageBlocks = std::count(blockMinImage.begin(), blockMinImage.end(), (char) 1);
        stat.lanePairsInside = std::accumulate(inside.begin(), inside.end(), 0.0);
        stat.lanePairsListed = std::accumulate(listed.begin(), listed.end(), 0.0);
    }

    void searchBlock(int b, const Vec3& L, std::vector<int>& out, V* P, double& nInside,
                     double& nListed) {
        bool periodic = table.periodic;
        int k0 = b * W;
        int real = 0;
        float lo[3] = {1e30f, 1e30f, 1e30f}, hi[3] = {-1e30f, -1e30f, -1e30f};
        for (int l = 0; l < W; l++) {
            int k = k0 + l;
            if (order[k] < 0)
                continue;
            real++;
            float c[3] = {xs[k], ys[k], zs[k]};
            for (int d = 0; d < 3; d++) {
                lo[d] = std::min(lo[d], c[d]);
                hi[d] = std::max(hi[d], c[d]);
            }
        }
        // Self entries first: the other particles of this block (lane masks pick j > i).
        int entriesBefore = (int) out.size();
        for (int l = 1; l < real; l++)
            out.push_back(((k0 + l) << SHIFT_BITS) | ZERO_SHIFT);
        blockSelf[b] = std::max(real - 1, 0);
        int blockSelfCount = blockSelf[b];
        float lanePos[3][W];
        int laneType[W];
        for (int l = 0; l < real; l++) {  // real particles are the first `real` lanes
            lanePos[0][l] = xs[k0 + l];
            lanePos[1][l] = ys[k0 + l];
            lanePos[2][l] = zs[k0 + l];
            laneType[l] = ts[k0 + l];
        }
        double R = maxList;
        // One image per entry is right for every lane when, in each dimension, the block's extent
        // plus twice the list range fits in the box: a lane's true minimum image of j and the
        // listed image of j both lie within R of the block (at build time), so they would be
        // closer than a box length. Otherwise the block takes the minimum image per lane.
        bool minImage = false;
        for (int d = 0; d < 3; d++)
            if (periodic && (double) (hi[d] - lo[d]) + 2 * R >= L[d] * (1.0 - 1e-6))
                minImage = true;
        blockMinImage[b] = minImage;
        laneParameters(b, P);
        V bx(&xs[k0]), by(&ys[k0]), bz(&zs[k0]);
        int range[3][2];
        for (int d = 0; d < 3; d++) {
            range[d][0] = (int) std::floor((lo[d] - R) / cellEdge[d]);
            range[d][1] = (int) std::floor((hi[d] + R) / cellEdge[d]);
            if (!periodic) {
                range[d][0] = std::max(range[d][0], 0);
                range[d][1] = std::min(range[d][1], nc[d] - 1);
            }
            else if (minImage)  // each wrapped cell once; lanes take their own image
                range[d][1] = std::min(range[d][1], range[d][0] + nc[d] - 1);
            // (with one image per entry, a cell seen at both ends of the range is in reach of
            // the block at one image only: the lane test keeps that one)
        }
        const float R2 = (float) (R * R);
        const V vlo[3] = {V(lo[0]), V(lo[1]), V(lo[2])}, vhi[3] = {V(hi[0]), V(hi[1]), V(hi[2])};
        const V zero(0.0f), vR2(R2);
        const float Lf[3] = {(float) L[0], (float) L[1], (float) L[2]};
        const float invLf[3] = {(float) (1.0 / L[0]), (float) (1.0 / L[1]), (float) (1.0 / L[2])};
        // Per dimension: the wrapped cell index, image shift and squared gap to the block of
        // every cell coordinate in range (so the triple loop below needs no division).
        int span[3];
        thread_local std::vector<int> wrapIdx[3], image[3];
        thread_local std::vector<float> gap2[3], shiftF[3];
        for (int d = 0; d < 3; d++) {
            span[d] = std::max(range[d][1] - range[d][0] + 1, 0);
            wrapIdx[d].resize(span[d]);
            image[d].resize(span[d]);
            gap2[d].resize(span[d]);
            shiftF[d].resize(span[d]);
            for (int q = 0; q < span[d]; q++) {
                int c = range[d][0] + q;
                int im = periodic ? floorDiv(c, nc[d]) : 0;
                wrapIdx[d][q] = c - im * nc[d];
                image[d][q] = im;
                shiftF[d][q] = (float) (im * L[d]);
                float g = std::max(std::max(lo[d] - (float) ((c + 1) * cellEdge[d]), (float) (c * cellEdge[d]) - hi[d]), 0.0f);
                gap2[d][q] = minImage ? 0.0f : g * g;
            }
        }
        const float* __restrict wx = wxs.data();
        const float* __restrict wy = wys.data();
        const float* __restrict wz = wzs.data();
        const float* __restrict tsf = tsFloat.data();
        const int* __restrict tsi = ts.data();
        const int* __restrict cstart = cellStart.data();
        const int* __restrict grid = gridIndex.data();
        const int jMin = k0 + W;
        for (int qx = 0; qx < span[0]; qx++) {
            for (int qy = 0; qy < span[1]; qy++) {
                float g2xy = gap2[0][qx] + gap2[1][qy];
                if (g2xy > R2)
                    continue;
                int rowBase = (wrapIdx[0][qx] * nc[1] + wrapIdx[1][qy]) * nc[2];
                for (int qz = 0; qz < span[2]; qz++) {
                    if (g2xy + gap2[2][qz] > R2)
                        continue;  // the whole cell is out of reach of the block
                    int r = grid[rowBase + wrapIdx[2][qz]];
                    int jStart = std::max(cstart[r], jMin), jEnd = cstart[r + 1];
                    if (jStart >= jEnd)
                        continue;
                    const float sx = shiftF[0][qx], sy = shiftF[1][qy], sz = shiftF[2][qz];
                    const V vsx(sx), vsy(sy), vsz(sz);
                    for (int j0 = jStart; j0 < jEnd; j0 += W) {
                        // W candidates at once. First their distance to the block's bounding box...
                        unsigned bits = (unsigned) laneBits(V((float) (jEnd - j0)) > iota);
                        V px = V(wx + j0) + vsx, py = V(wy + j0) + vsy, pz = V(wz + j0) + vsz;
                        if (!minImage) {
                            V ddx = max(max(vlo[0] - px, px - vhi[0]), zero);
                            V ddy = max(max(vlo[1] - py, py - vhi[1]), zero);
                            V ddz = max(max(vlo[2] - pz, pz - vhi[2]), zero);
                            bits &= (unsigned) laneBits(ddx * ddx + ddy * ddy + ddz * ddz <= vR2);
                            if (!bits)
                                continue;
                        }
                        // ...then every block particle against all W candidates (no branches):
                        // a candidate is listed when any block particle is within its pair's
                        // cutoff + skin.
                        V typeMask[4];
                        V ctype(tsf + j0);
                        int nt = std::min(S, 4);
                        for (int q = 1; q < nt; q++)
                            typeMask[q] = ctype == V((float) q);
                        V near(0.0f);
                        for (int l = 0; l < real; l++) {
                            V dx = px - V(lanePos[0][l]), dy = py - V(lanePos[1][l]), dz = pz - V(lanePos[2][l]);
                            if (minImage) {
                                dx = dx - V(Lf[0]) * round(dx * V(invLf[0]));
                                dy = dy - V(Lf[1]) * round(dy * V(invLf[1]));
                                dz = dz - V(Lf[2]) * round(dz * V(invLf[2]));
                            }
                            V r2 = dx * dx + dy * dy + dz * dz;
                            const float* row = &list2[laneType[l] * S];
                            V cut;
                            if (S <= 4) {
                                cut = V(row[0]);
                                for (int q = 1; q < nt; q++)
                                    cut = blend(cut, V(row[q]), typeMask[q]);
                            }
                            else
                                cut = V(row, tsi + j0);
                            V within = r2 < cut;  // (fvec8's operator| takes an lvalue)
                            near = near | within;
                        }
                        bits &= (unsigned) laneBits(near);
                        while (bits) {
                            int j = j0 + __builtin_ctz(bits);
                            bits &= bits - 1;
                            int code = ZERO_SHIFT;
                            if (periodic && !minImage) {
                                // stored x_j = wrapped x_j - unwrap(j): the entry's image adds both
                                int u = unwrapCode[j];
                                code = shiftCode(u / 25 - 2 + image[0][qx], (u / 5) % 5 - 2 + image[1][qy], u % 5 - 2 + image[2][qz]);
                            }
                            out.push_back((j << SHIFT_BITS) | code);
                        }
                    }
                }
            }
        }
        if (collectStats) {
            // lane occupancy of the new entries: pairs within their cutoff / lane slots listed
            const int* e = out.data() + entriesBefore;
            int count = (int) out.size() - entriesBefore;
            for (int q = blockSelfCount; q < count; q++) {
                int j = e[q] >> SHIFT_BITS, sc = e[q] & SHIFT_MASK;
                V dx = V(xs[j] + shiftOf(sc, 0, L)) - bx, dy = V(ys[j] + shiftOf(sc, 1, L)) - by, dz = V(zs[j] + shiftOf(sc, 2, L)) - bz;
                if (minImage) {
                    dx = dx - V(Lf[0]) * round(dx * V(invLf[0]));
                    dy = dy - V(Lf[1]) * round(dy * V(invLf[1]));
                    dz = dz - V(Lf[2]) * round(dz * V(invLf[2]));
                }
                nInside += countLanes((dx * dx + dy * dy + dz * dz) < P[6 * ts[j] + 3]);
                nListed += W;
            }
        }
    }

    static float shiftOf(int code, int d, const Vec3& L) {
        int m = d == 0 ? code / 25 - 2 : d == 1 ? (code / 5) % 5 - 2 : code % 5 - 2;
        return (float) (m * L[d]);
    }

    void makePartition(int numThreads) {
        // Contiguous block ranges with about equal work (entries + a constant per block).
        std::vector<double> cum(nBlocks + 1, 0.0);
        for (int b = 0; b < nBlocks; b++)
            cum[b + 1] = cum[b] + blockCount[b] + 8.0;
        partition.assign(numThreads + 1, nBlocks);
        partition[0] = 0;
        int b = 0;
        for (int t = 1; t < numThreads; t++) {
            double target = cum[nBlocks] * t / numThreads;
            while (b < nBlocks && cum[b] < target)
                b++;
            partition[t] = b;
        }
    }

    PairTableData table;
    int S = 0, n = 0, nPad = 0, nBlocks = 0;
    double skin = 0, maxList = 0;
    bool needRebuild = true;
    Vec3 refBox;
    std::vector<float> eps4, eps24, sig2, rc2, shiftE, list2;
    std::vector<Vec3> offset, refPos, wrapped;
    std::vector<int> order, ts;
    std::vector<float> tsFloat;
    std::vector<int> unwrapCode;  // per stored particle: the image its block unwrap applied
    bool collectStats = false;
    std::vector<float> xs, ys, zs, wxs, wys, wzs;  // stored and (sorted) wrapped coordinates, for list builds
    std::vector<double> xd, yd, zd;                // stored coordinates for the pair loop
    double shxd[128], shyd[128], shzd[128];
    V iota;
    int nc[3] = {1, 1, 1};
    double cellEdge[3] = {1, 1, 1};
    std::vector<int> cellStart, gridIndex;
    std::vector<std::vector<int> > store;
    std::vector<const int*> blockEntries;
    std::vector<int> blockCount, blockSelf, partition;
    std::vector<char> blockMinImage;
    std::vector<OpenMM::AlignedArray<float> > fbuf;
    float shx[128], shy[128], shz[128];
    float invL[3], boxf[3];
    EngineStats stat;

public:
    PairTableEngine() {
        Lanes<W> lanes;
        for (int l = 0; l < W; l++)
            lanes.v[l] = (float) l;
        iota = V(lanes.v);
        // selfMask[m] has lane l set iff l < m: for the self entry j = block start + m, lanes i < j.
        for (int m = 0; m < W; m++)
            for (int l = 0; l < W; l++) {
                uint32_t bits = l < m ? 0xFFFFFFFFu : 0u;
                std::memcpy(&selfMask[m].v[l], &bits, sizeof(float));
            }
    }

private:
    Lanes<W> selfMask[W];
};

} // namespace
} // namespace GlassmmPlugin
