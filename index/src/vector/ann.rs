//! The approximate nearest-neighbour index over unit vectors (HNSW from hnsw_rs), persisted
//! beside the index and reloaded without rebuilding.

use std::path::Path;

use hnsw_rs::prelude::{AnnT, DistCosine, Hnsw, HnswIo};

use super::VectorError;

/// Links per node: 16 is hnsw_rs's and the HNSW paper's usual value for dimensions in the
/// hundreds.
const MAX_CONNECTIONS: usize = 16;
/// Layers.
const MAX_LAYERS: usize = 16;
/// Candidate list while building: higher is a better graph and a slower build.
const EF_CONSTRUCTION: usize = 200;
/// Candidate list while searching (at least the number of results asked for).
const EF_SEARCH: usize = 64;

/// An HNSW graph of L2-normalised vectors; ids are positions in the unit list.
pub struct AnnIndex {
    hnsw: Hnsw<'static, f32, DistCosine>,
}

impl AnnIndex {
    /// Builds the graph from vectors (in parallel).
    pub fn build(items: &[(&[f32], usize)]) -> AnnIndex {
        let hnsw = Hnsw::new(
            MAX_CONNECTIONS,
            items.len().max(1),
            MAX_LAYERS,
            EF_CONSTRUCTION,
            DistCosine {},
        );
        hnsw.parallel_insert_slice(&items.to_vec());
        let mut hnsw = hnsw;
        hnsw.set_searching_mode(true);
        AnnIndex { hnsw }
    }

    /// Writes the graph and its vectors as `<dir>/<basename>.hnsw.{graph,data}`.
    pub fn dump(&self, dir: &Path, basename: &str) -> Result<(), VectorError> {
        self.hnsw
            .file_dump(dir, basename)
            .map_err(|e| VectorError::Ann(format!("writing {basename}: {e}")))?;
        Ok(())
    }

    /// Reloads a dumped graph.
    pub fn load(dir: &Path, basename: &str) -> Result<AnnIndex, VectorError> {
        // hnsw_rs ties a reloaded graph's lifetime to its loader; the loader lives as long as
        // the process (one index per command), so it is leaked rather than made self-referential.
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, basename)));
        let mut hnsw: Hnsw<'static, f32, DistCosine> = loader
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

    /// Adds vectors under the given ids (in parallel).
    pub fn insert(&self, items: &[(&[f32], usize)]) {
        self.hnsw.parallel_insert_slice(&items.to_vec());
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
}
