//! The OGB node-property datasets mille knows by name, with the facts of OGB's `master.csv`.

/// One dataset's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetInfo {
    /// OGB name, e.g. `ogbn-products`.
    pub name: &'static str,
    /// Folder inside the zip (`products`, `papers100M-bin`).
    pub download_name: &'static str,
    /// Where the zip is.
    pub url: &'static str,
    /// Number of prediction tasks.
    pub num_tasks: u64,
    /// Classes per task.
    pub num_classes: u64,
    /// OGB metric: `acc` or `rocauc`.
    pub metric: &'static str,
    /// `multiclass classification` or `binary classification`.
    pub task_type: &'static str,
    /// Whether each undirected edge is stored once and must get its inverse.
    pub add_inverse_edge: bool,
    /// Node features present.
    pub has_node_attr: bool,
    /// Edge features present.
    pub has_edge_attr: bool,
    /// Split folder name.
    pub split: &'static str,
    /// Extra per-node files (`node_species`, `node_year`).
    pub additional_node_files: &'static [&'static str],
    /// Binary (`.npz`) layout instead of CSV.
    pub binary: bool,
    /// Nodes, as published.
    pub num_nodes: u64,
    /// Edge rows in `edge.csv.gz`, as published (before inverse edges).
    pub num_input_edges: u64,
    /// Approximate size of the zip in bytes (for the progress bar before the server answers).
    pub zip_bytes: u64,
}

/// Every dataset `tools/prepare NAME` downloads by name.
pub const CATALOG: &[DatasetInfo] = &[
    DatasetInfo {
        name: "ogbn-products",
        download_name: "products",
        url: "http://snap.stanford.edu/ogb/data/nodeproppred/products.zip",
        num_tasks: 1,
        num_classes: 47,
        metric: "acc",
        task_type: "multiclass classification",
        add_inverse_edge: true,
        has_node_attr: true,
        has_edge_attr: false,
        split: "sales_ranking",
        additional_node_files: &[],
        binary: false,
        num_nodes: 2_449_029,
        num_input_edges: 61_859_140,
        zip_bytes: 1_480_000_000,
    },
    DatasetInfo {
        name: "ogbn-proteins",
        download_name: "proteins",
        url: "http://snap.stanford.edu/ogb/data/nodeproppred/proteins.zip",
        num_tasks: 112,
        num_classes: 2,
        metric: "rocauc",
        task_type: "binary classification",
        add_inverse_edge: true,
        has_node_attr: false,
        has_edge_attr: true,
        split: "species",
        additional_node_files: &["node_species"],
        binary: false,
        num_nodes: 132_534,
        num_input_edges: 39_561_252,
        zip_bytes: 216_000_000,
    },
    DatasetInfo {
        name: "ogbn-arxiv",
        download_name: "arxiv",
        url: "http://snap.stanford.edu/ogb/data/nodeproppred/arxiv.zip",
        num_tasks: 1,
        num_classes: 40,
        metric: "acc",
        task_type: "multiclass classification",
        add_inverse_edge: false,
        has_node_attr: true,
        has_edge_attr: false,
        split: "time",
        additional_node_files: &["node_year"],
        binary: false,
        num_nodes: 169_343,
        num_input_edges: 1_166_243,
        zip_bytes: 81_000_000,
    },
    DatasetInfo {
        name: "ogbn-papers100M",
        download_name: "papers100M-bin",
        url: "http://snap.stanford.edu/ogb/data/nodeproppred/papers100M-bin.zip",
        num_tasks: 1,
        num_classes: 172,
        metric: "acc",
        task_type: "multiclass classification",
        add_inverse_edge: false,
        has_node_attr: true,
        has_edge_attr: false,
        split: "time",
        additional_node_files: &["node_year"],
        binary: true,
        num_nodes: 111_059_956,
        num_input_edges: 1_615_685_872,
        zip_bytes: 60_000_000_000,
    },
];

/// Looks a dataset up by name (`ogbn-products`, or just `products`).
pub fn lookup(name: &str) -> Option<&'static DatasetInfo> {
    CATALOG.iter().find(|d| d.name == name || d.name.strip_prefix("ogbn-") == Some(name))
}

/// Names of all known datasets, for error messages.
pub fn names() -> Vec<&'static str> {
    CATALOG.iter().map(|d| d.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://snap.stanford.edu/ogb/data/nodeproppred";

    #[test]
    fn urls_follow_the_download_name() {
        for d in CATALOG {
            assert_eq!(d.url, format!("{BASE}/{}.zip", d.download_name));
        }
        assert_eq!(lookup("products").unwrap().name, "ogbn-products");
        assert!(lookup("ogbn-mag").is_none());
    }
}
