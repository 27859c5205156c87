//! `data package DIR --tag REPO:TAG`: build a dataset image of DIR's files through the engine
//! (see [`crate::service::data_image::package`]), then print its id, its tag and its files with
//! their size, rows and sha256 (what its `com.docker.finetune.data.files` label records) on
//! stdout. A missing or empty DIR and a bad tag are one error line each, before the engine is
//! asked anything.

use crate::cli::data::{DataArgs, DataCommand};
use crate::commands::Ctx;
use crate::exit::ExitCode;
use crate::service::built::check_tag;
use crate::service::data_image::package::{self, FileEntry};
use crate::service::Terminal;
use comfy_table::{presets, CellAlignment, Table};
use std::path::PathBuf;

pub enum Options {
    Package { dir: PathBuf, tag: String },
}

impl From<DataArgs> for Options {
    fn from(a: DataArgs) -> Options {
        match a.command {
            DataCommand::Package(p) => Options::Package {
                dir: p.dir,
                tag: p.tag,
            },
        }
    }
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let Options::Package { dir, tag } = opts;
    let tag = check_tag(&tag)?;
    // The directory is checked before the engine is asked: its errors need no engine.
    let scan_dir = dir.clone();
    let files = tokio::task::spawn_blocking(move || package::scan(&scan_dir)).await??;
    let engine = ctx.engine().await?;
    let built = package::package(&engine, &dir, files, &tag, &Terminal).await?;
    println!("image  {}", built.id);
    println!("tag    {}", built.tag);
    println!();
    println!("{}", table(&built.files));
    Ok(ExitCode::Success)
}

/// The files as a table: path, size, rows (`-` for files that are not data), sha256.
pub fn table(files: &[FileEntry]) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(vec!["PATH", "SIZE", "ROWS", "SHA256"]);
    for f in files {
        t.add_row(vec![
            f.path.clone(),
            size(f.size),
            f.rows.map_or_else(|| "-".to_string(), |r| r.to_string()),
            f.sha256.clone(),
        ]);
    }
    for col in [1, 2] {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t.to_string()
}

/// Bytes in the units `docker images` uses (decimal).
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.1} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_references_without_digests() {
        assert_eq!(check_tag("acme/tweets:v1").unwrap(), "acme/tweets:v1");
        assert_eq!(check_tag("tweets").unwrap(), "tweets:latest");
        let code = |t: &str| {
            let e = check_tag(t).unwrap_err();
            (
                e.downcast_ref::<crate::exit::Failure>().unwrap().code,
                e.to_string(),
            )
        };
        let (c, m) = code("Tweets:v1");
        assert_eq!(c, ExitCode::Usage);
        assert!(
            m.starts_with("--tag: `Tweets:v1` is not a valid image reference"),
            "{m}"
        );
        let pinned = format!("t@sha256:{}", "a".repeat(64));
        assert!(code(&pinned).1.contains("has a digest"));
    }

    #[test]
    fn the_table_lists_every_file_with_rows_for_data_files() {
        let files = vec![
            FileEntry {
                path: "README.md".into(),
                size: 12,
                sha256: "ab".repeat(32),
                rows: None,
            },
            FileEntry {
                path: "train.jsonl".into(),
                size: 2_500,
                sha256: "cd".repeat(32),
                rows: Some(128),
            },
        ];
        let t = table(&files);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].contains("PATH") && lines[0].contains("SHA256"),
            "{t}"
        );
        assert!(
            lines[1].contains("README.md") && lines[1].contains(" - "),
            "{t}"
        );
        assert!(
            lines[2].contains("2.5 kB") && lines[2].contains("128"),
            "{t}"
        );
        assert!(lines[2].contains(&"cd".repeat(32)), "{t}");
    }
}
