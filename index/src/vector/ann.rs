//! The approximate nearest-neighbour index over unit vectors (HNSW from hnsw_rs), persisted
//! beside the index and reloaded without rebuilding.

use std::path::Path;

use hnsw_rs::prelude::{AnnT, Distance, Hnsw, HnswIo};

use super::{FileDigest, VectorError};

/// Links per node: 16 is hnsw_rs's and the HNSW paper's usual value for dimensions in the
/// hundreds.
const MAX_CONNECTIONS: usize = 16;
/// Layers.
const MAX_LAYERS: usize = 16;
/// Candidate list while building: higher is a better graph and a slower build.
const EF_CONSTRUCTION: usize = 200;
/// Candidate list while searching (at least the number of results asked for).
const EF_SEARCH: usize = 64;

/// The name the unit table records for [`UnitCosine`].
pub const DISTANCE: &str = "unit-cosine";

/// Lanes of the dot product's partial sums: independent accumulators the compiler turns into
/// vector registers on any x86-64 or AArch64 CPU (no CPU-specific code).
const LANES: usize = 16;

/// Cosine distance between L2-normalised vectors, `1 - a·b` (at least 0): what hnsw_rs's
/// `DistCosine` computes for them, without its three f64 sums per pair, which took most of
/// a warm query's vector search. Every vector sextant stores or searches with is normalised
/// by `embed::normalise`.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0f32; LANES];
        let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail: f32 = a_chunks
            .remainder()
            .iter()
            .zip(b_chunks.remainder())
            .map(|(x, y)| x * y)
            .sum();
        for (x, y) in a_chunks.zip(b_chunks) {
            for lane in 0..LANES {
                lanes[lane] += x[lane] * y[lane];
            }
        }
        (1.0 - (lanes.iter().sum::<f32>() + tail)).max(0.0)
    }
}

/// An HNSW graph of L2-normalised vectors; ids are positions in the unit list.
pub struct AnnIndex {
    hnsw: Hnsw<'static, f32, UnitCosine>,
}

impl AnnIndex {
    /// Builds the graph from vectors, inserted one at a time in the given order, so the same
    /// vectors always give the same graph (and the same neighbours for a task): parallel
    /// insertion races on the order in which points draw their levels and find neighbours,
    /// and two builds of one tree differed. It costs twice the build time (tokio's 10,486
    /// units: 3.8 → 7.7 s on 2 cores), against ~75 s of embedding them.
    pub fn build(items: &[(&[f32], usize)]) -> AnnIndex {
        let hnsw = Hnsw::new(
            MAX_CONNECTIONS,
            items.len().max(1),
            MAX_LAYERS,
            EF_CONSTRUCTION,
            UnitCosine,
        );
        for item in items {
            hnsw.insert_slice(*item);
        }
        let mut hnsw = hnsw;
        hnsw.set_searching_mode(true);
        AnnIndex { hnsw }
    }

    /// Writes the graph and its vectors as `<dir>/<basename>.hnsw.{graph,data}` and returns
    /// their digests, to be checked before [`AnnIndex::load`] lets hnsw_rs read them.
    /// An empty graph writes nothing and returns no digests (hnsw_rs cannot dump one; a
    /// tree with nothing to embed reloads it as [`AnnIndex::build`] of nothing).
    pub fn dump(&self, dir: &Path, basename: &str) -> Result<Vec<FileDigest>, VectorError> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let written = self
            .hnsw
            .file_dump(dir, basename)
            .map_err(|e| VectorError::Ann(format!("writing {basename}: {e}")))?;
        // hnsw_rs picks another name when the file exists and is mapped; say so rather than
        // record a file nobody reads.
        if written != basename {
            return Err(VectorError::Ann(format!(
                "hnsw_rs wrote {written} instead of {basename}"
            )));
        }
        ["graph", "data"]
            .iter()
            .map(|part| FileDigest::of(dir, &format!("{basename}.hnsw.{part}")))
            .collect()
    }

    /// Reloads a dumped graph.
    pub fn load(dir: &Path, basename: &str) -> Result<AnnIndex, VectorError> {
        // hnsw_rs ties a reloaded graph's lifetime to its loader; the loader lives as long as
        // the process (one index per command), so it is leaked rather than made self-referential.
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, basename)));
        let mut hnsw: Hnsw<'static, f32, UnitCosine> = loader
            .load_hnsw()
            .map_err(|e| VectorError::Ann(format!("reading {basename}: {e}")))?;
        hnsw.set_searching_mode(true);
        Ok(AnnIndex { hnsw })
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.hnsw.get_nb_point()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds vectors under the given ids, one at a time in order, like [`AnnIndex::build`].
    pub fn insert(&self, items: &[(&[f32], usize)]) {
        for item in items {
            self.hnsw.insert_slice(*item);
        }
    }

    /// The `limit` nearest ids for which `live` holds, with cosine similarity, best first.
    pub fn search(
        &self,
        query: &[f32],
        limit: usize,
        live: &dyn Fn(usize) -> bool,
    ) -> Vec<(usize, f32)> {
        if self.is_empty() || limit == 0 {
            return Vec::new();
        }
        let filter = |id: &usize| live(*id);
        let mut found: Vec<(usize, f32)> = self
            .hnsw
            .search_filter(query, limit, EF_SEARCH.max(limit), Some(&filter))
            .into_iter()
            .map(|n| (n.d_id, 1.0 - n.distance))
            .collect();
        found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distance equals `1 - a·b` summed in f64, and cosine's for normalised vectors, at
    /// lengths below, at and off a multiple of the lanes.
    #[test]
    fn unit_cosine_is_one_minus_the_dot_product() {
        let mut seed = 0x9e37_79b9_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32) - 0.5
        };
        for length in [3, 16, 17, 384, 390] {
            let mut a: Vec<f32> = (0..length).map(|_| next()).collect();
            let mut b: Vec<f32> = (0..length).map(|_| next()).collect();
            crate::vector::embed::normalise(&mut a);
            crate::vector::embed::normalise(&mut b);
            let dot: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            let ours = UnitCosine.eval(&a, &b);
            assert!(
                (f64::from(ours) - (1.0 - dot)).abs() < 1e-5,
                "{length}: {ours} vs {}",
                1.0 - dot
            );
            assert!(UnitCosine.eval(&a, &a) < 1e-5);
        }
    }

    fn unit(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin(), 0.0]
    }

    #[test]
    fn finds_the_nearest_and_survives_a_reload() {
        let vectors: Vec<Vec<f32>> = (0..200).map(|i| unit(i as f32 * 0.01)).collect();
        let items: Vec<(&[f32], usize)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_slice(), i))
            .collect();
        let index = AnnIndex::build(&items);
        let all = |_: usize| true;
        let found = index.search(&unit(0.505), 3, &all);
        assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>()[..2], [50, 51]);
        assert!(found[0].1 > 0.99);
        let dir = tempfile::tempdir().expect("tempdir");
        index.dump(dir.path(), "ann").expect("dump");
        let reloaded = AnnIndex::load(dir.path(), "ann").expect("load");
        assert_eq!(reloaded.len(), 200);
        assert_eq!(reloaded.search(&unit(0.505), 3, &all), found);
        // Tombstoned ids are never returned; inserted ones are.
        let not_50 = |id: usize| id != 50;
        assert_eq!(reloaded.search(&unit(0.505), 1, &not_50)[0].0, 51);
        let extra = unit(0.5051);
        reloaded.insert(&[(extra.as_slice(), 200)]);
        assert_eq!(reloaded.search(&unit(0.5051), 1, &not_50)[0].0, 200);
    }

    #[test]
    fn the_same_vectors_build_the_same_graph() {
        // Spread over a sphere so neighbour choices are many and order-dependent.
        let vectors: Vec<Vec<f32>> = (0..2_000)
            .map(|i| {
                let (a, b) = (i as f32 * 0.37, i as f32 * 0.11);
                vec![a.cos() * b.sin(), a.sin() * b.sin(), b.cos()]
            })
            .collect();
        let items: Vec<(&[f32], usize)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (v.as_slice(), i))
            .collect();
        let dumped = |index: &AnnIndex| {
            let dir = tempfile::tempdir().expect("tempdir");
            index.dump(dir.path(), "ann").expect("dump");
            std::fs::read(dir.path().join("ann.hnsw.graph")).expect("graph file")
        };
        let first = dumped(&AnnIndex::build(&items));
        let second = dumped(&AnnIndex::build(&items));
        assert!(first == second, "two builds of the same vectors differ");
    }
}
