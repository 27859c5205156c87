//! What the dataset-image and model-image builds share once the engine has their context: the
//! tag they are built as (`--tag`), following the build's output to its end, and the id of the
//! image it tagged. (The trainer image's build in `image.rs` also relays progress lines and words
//! its errors by build plan, so it keeps its own loop.)

use crate::engine::Engine;
use crate::exit::{fail, fail_hint, ExitCode};
use bollard::models::BuildInfo;
use finetune_spec::image_ref::ImageRef;
use futures_util::{Stream, StreamExt};

/// A `--tag` as given: a reference without a digest, `:latest` added when it has no tag.
pub fn check_tag(tag: &str) -> anyhow::Result<String> {
    let r = ImageRef::parse(tag).map_err(|e| fail(ExitCode::Usage, format!("--tag: {e}")))?;
    if r.digest.is_some() {
        return Err(fail(
            ExitCode::Usage,
            format!("--tag: `{tag}` has a digest; a build is tagged REPO:TAG"),
        ));
    }
    Ok(match r.tag {
        Some(_) => tag.to_string(),
        None => format!("{tag}:latest"),
    })
}

/// Follows `stream` (the engine's build of `what` as `tag`) to its end and returns the id of the
/// image now tagged `tag`. The first error the engine reports, in the stream or as a failed
/// request, is the one line of [`ExitCode::BuildFailed`].
pub async fn finish(
    engine: &Engine,
    stream: impl Stream<Item = Result<BuildInfo, bollard::errors::Error>>,
    what: &str,
    tag: &str,
) -> anyhow::Result<String> {
    let failed = |m: String| {
        fail_hint(
            ExitCode::BuildFailed,
            format!("building {what} {tag} failed: {}", m.trim()),
            "`docker finetune doctor` checks the engine and its free disk",
        )
    };
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| failed(e.to_string()))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message).or(info.error) {
            return Err(failed(err));
        }
    }
    Ok(engine
        .docker
        .inspect_image(tag)
        .await
        .map_err(|e| failed(e.to_string()))?
        .id
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_and_completed() {
        assert_eq!(check_tag("a/b").unwrap(), "a/b:latest");
        assert_eq!(
            check_tag("127.0.0.1:5000/a/b:v1").unwrap(),
            "127.0.0.1:5000/a/b:v1"
        );
        let digest = format!("a/b@sha256:{}", "0".repeat(64));
        for bad in ["A/B", digest.as_str(), ""] {
            let e = check_tag(bad).unwrap_err();
            assert_eq!(
                e.downcast_ref::<crate::exit::Failure>().unwrap().code,
                ExitCode::Usage
            );
        }
    }
}
