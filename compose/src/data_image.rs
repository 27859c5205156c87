//! Jobs whose dataset is an image (`data.image`, built by `docker finetune data package`): how
//! the job reads the image's files through Compose alone, on engines as old as 20.10 (API 1.41).
//!
//! A dataset image is `FROM scratch`: its files under [`contract::DATA_DIR`] and a tiny static
//! no-op program as its entrypoint. Compose's `type: image` volumes need API 1.47, so the files
//! reach the job through Docker's volume copy-up instead: when a container is *created* with an
//! empty named volume mounted on a directory of its image, the engine first copies that
//! directory's content into the volume. The job therefore gets:
//! - an init service `<job>-data` running the dataset image with the volume on `/data`: creating
//!   it fills the volume, and running its entrypoint exits 0 at once (a scratch image has no
//!   shell, so without a program of its own it could not be started, and Compose starts every
//!   service it creates);
//! - the volume mounted read-only on the job's `/data`, and `depends_on` the init service with
//!   `condition: service_completed_successfully`.
//!
//! Copy-up only fills an empty volume, so a volume's content must never change: it is named after
//! the image id (`<job>-data-<12 hex digits>`, from [`RenderOptions::data_images`]), a new image
//! gets a new volume, and the job mounts it read-only. Rendered without the id (no engine to ask),
//! the name is `<job>-data`; `docker finetune up` always knows the id. The job's environment
//! carries the reference and the id ([`contract::DATA_IMAGE_ENV`], [`contract::DATA_IMAGE_ID_ENV`])
//! for `run.json`.

use crate::render::{labels, RenderOptions, DEFAULT_USER};
use finetune_spec::contract;
use finetune_spec::JobSpec;
use serde_json::{json, Map, Value};
use std::path::{Component, Path, PathBuf};

/// The init service that fills a job's data volume.
pub fn init_service(job: &str) -> String {
    format!("{job}-data")
}

/// A data file's path inside a dataset image, as `data.train`/`data.eval` give it: relative to
/// the image's dataset directory, cleaned, never climbing out of it.
pub fn image_path(text: &str) -> Result<PathBuf, String> {
    let path = Path::new(text);
    if path.is_absolute() {
        return Err(format!(
            "`{text}` is absolute; inside a dataset image paths are relative to its {} directory",
            contract::DATA_DIR
        ));
    }
    let cleaned = crate::paths::clean(path);
    if cleaned.components().next() == Some(Component::ParentDir) {
        return Err(format!(
            "`{text}` climbs out of the dataset image's {} directory",
            contract::DATA_DIR
        ));
    }
    Ok(cleaned)
}

/// What a dataset image adds to a job's rendering.
pub struct DataImage {
    /// The init service's name and definition.
    pub init: (String, Value),
    /// The top-level volume's name and definition.
    pub volume: (String, Value),
}

/// The dataset image part of `spec`'s rendering, `None` when its data are host files.
pub fn render(project: &str, spec: &JobSpec, opts: &RenderOptions) -> Option<DataImage> {
    let image = spec.data.image.as_ref()?;
    let id = opts.data_images.get(image);
    let volume = volume_name(&spec.name, id.map(String::as_str));
    let init = json!({
        "image": image,
        "volumes": [{ "type": "volume", "source": volume, "target": contract::DATA_DIR }],
        "user": opts.user.clone().unwrap_or_else(|| DEFAULT_USER.into()),
        "read_only": true,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "network_mode": "none",
        "restart": "no",
        "labels": {
            labels::PROJECT: project,
            labels::DATA_FOR: spec.name,
            labels::VERSION: opts.version,
        },
    });
    let vol = json!({ "labels": { labels::PROJECT: project, labels::DATA_FOR: spec.name } });
    Some(DataImage {
        init: (init_service(&spec.name), init),
        volume: (volume, vol),
    })
}

/// The job's `/data` mount, the data volume read-only; `None` for host files.
pub fn mount(spec: &JobSpec, opts: &RenderOptions) -> Option<Value> {
    let image = spec.data.image.as_ref()?;
    let volume = volume_name(&spec.name, opts.data_images.get(image).map(String::as_str));
    Some(json!({
        "type": "volume",
        "source": volume,
        "target": contract::DATA_DIR,
        "read_only": true,
    }))
}

/// The job's `depends_on`: its services, plus the init service once it has exited 0.
pub fn depends_on(spec: &JobSpec) -> Value {
    let Some(_) = &spec.data.image else {
        return json!(spec.depends_on);
    };
    let mut deps = Map::new();
    for d in &spec.depends_on {
        deps.insert(d.clone(), json!({ "condition": "service_started" }));
    }
    deps.insert(
        init_service(&spec.name),
        json!({ "condition": "service_completed_successfully" }),
    );
    Value::Object(deps)
}

/// The job's environment entries naming the image and its id.
pub fn environment(spec: &JobSpec, opts: &RenderOptions) -> Vec<(String, Value)> {
    let Some(image) = &spec.data.image else {
        return Vec::new();
    };
    let mut env = vec![(contract::DATA_IMAGE_ENV.to_string(), json!(image))];
    if let Some(id) = opts.data_images.get(image) {
        env.push((contract::DATA_IMAGE_ID_ENV.to_string(), json!(id)));
    }
    env
}

/// `<job>-data-<first 12 hex digits of the id>`, or `<job>-data` without an id.
fn volume_name(job: &str, id: Option<&str>) -> String {
    let hex = id.map(|id| id.strip_prefix("sha256:").unwrap_or(id));
    match hex.map(|h| &h[..12.min(h.len())]) {
        Some(short) if !short.is_empty() => format!("{job}-data-{short}"),
        _ => init_service(job),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_stay_inside_the_dataset_directory() {
        assert_eq!(
            image_path("./a/../train.jsonl"),
            Ok(PathBuf::from("train.jsonl"))
        );
        assert_eq!(image_path("sub/e.csv"), Ok(PathBuf::from("sub/e.csv")));
        assert!(image_path("/data/train.jsonl")
            .unwrap_err()
            .contains("absolute"));
        assert!(image_path("../x.jsonl").unwrap_err().contains("climbs out"));
    }

    #[test]
    fn volumes_are_named_after_the_image_id() {
        let id = format!("sha256:{}", "0123456789ab".repeat(5));
        assert_eq!(volume_name("j", Some(&id)), "j-data-0123456789ab");
        assert_eq!(volume_name("j", None), "j-data");
    }
}
