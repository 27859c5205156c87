//! The Docker CLI plugin protocol's side of argv.
//!
//! `docker [global flags] finetune <args>` runs `docker-finetune [global flags] finetune <args>`
//! (docker/cli `cli-plugins/manager`: the plugin gets the CLI's `os.Args[1:]` unchanged, plus
//! `DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND`). `docker-finetune docker-cli-plugin-metadata` asks
//! for the metadata. This module finds the `finetune` word after docker's global flags and
//! removes it, so that the same clap parser serves `docker finetune ...` and `docker-finetune
//! ...` run directly.

use serde::Serialize;

/// The plugin metadata the docker CLI reads (`docker-cli-plugin-metadata`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    pub schema_version: &'static str,
    pub vendor: &'static str,
    pub version: &'static str,
    pub short_description: &'static str,
    #[serde(rename = "URL")]
    pub url: &'static str,
}

pub const METADATA: Metadata = Metadata {
    schema_version: "0.1.0",
    vendor: "docker-finetune",
    version: env!("CARGO_PKG_VERSION"),
    short_description: "Fine-tune models from your compose files",
    url: "https://github.com/docker-finetune/docker-finetune",
};

/// The docker CLI's global flags that take a value (as a separate argument unless written
/// `--flag=value` or `-Xvalue`).
const VALUE_FLAGS: &[&str] = &[
    "-c",
    "--context",
    "-H",
    "--host",
    "-l",
    "--log-level",
    "--config",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];

/// What the process was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Print the plugin metadata.
    Metadata,
    /// Run the CLI with these arguments (program name first, `finetune` removed).
    Cli(Vec<String>),
}

/// Classify argv and strip the plugin's command word.
pub fn classify(argv: Vec<String>) -> Invocation {
    if argv.get(1).map(String::as_str) == Some("docker-cli-plugin-metadata") {
        return Invocation::Metadata;
    }
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        if !a.starts_with('-') || a == "-" {
            break;
        }
        if a == "--" {
            break;
        }
        if VALUE_FLAGS.contains(&a) {
            i += 2;
        } else {
            i += 1;
        }
    }
    let mut argv = argv;
    if argv.get(i).map(String::as_str) == Some("finetune") {
        argv.remove(i);
    }
    Invocation::Cli(argv)
}

/// Whether the first command word (after global flags) is the Compose provider entry `compose`;
/// returns the arguments after it.
pub fn provider_args(argv: &[String]) -> Option<Vec<String>> {
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        if !a.starts_with('-') {
            break;
        }
        i += if VALUE_FLAGS.contains(&a) { 2 } else { 1 };
    }
    (argv.get(i).map(String::as_str) == Some("compose")).then(|| argv[i + 1..].to_vec())
}

/// Every value of a repeatable flag, wherever it is written (`-f a`, `-fa`, `--file a`,
/// `--file=a`), in order. clap keeps only the values of the last command level that sets a
/// global flag, so `-f a.yaml up -f b.yaml` would lose `a.yaml` without this.
pub fn repeated(argv: &[String], short: Option<&str>, long: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        if a == "--" {
            break;
        }
        let long_eq = format!("{long}=");
        if a == long || Some(a) == short {
            if let Some(v) = argv.get(i + 1) {
                out.push(v.clone());
            }
            i += 2;
            continue;
        } else if let Some(v) = a.strip_prefix(&long_eq) {
            out.push(v.to_string());
        } else if let Some(v) = short
            .and_then(|s| a.strip_prefix(s))
            .filter(|v| !v.is_empty() && !a.starts_with("--"))
        {
            out.push(v.trim_start_matches('=').to_string());
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn metadata_is_recognised() {
        assert_eq!(
            classify(v(&["docker-finetune", "docker-cli-plugin-metadata"])),
            Invocation::Metadata
        );
        let json = serde_json::to_value(&METADATA).unwrap();
        assert_eq!(json["SchemaVersion"], "0.1.0");
        assert_eq!(json["Vendor"], "docker-finetune");
        assert!(json["URL"].is_string());
        assert!(json["ShortDescription"].is_string());
    }

    #[test]
    fn the_plugin_word_is_stripped_after_global_flags() {
        // As the docker CLI 28 passes them (checked with a shell-script plugin).
        assert_eq!(
            classify(v(&[
                "p",
                "-l",
                "debug",
                "-H",
                "unix:///s",
                "finetune",
                "up",
                "-f",
                "x.yaml"
            ])),
            Invocation::Cli(v(&[
                "p",
                "-l",
                "debug",
                "-H",
                "unix:///s",
                "up",
                "-f",
                "x.yaml"
            ]))
        );
        assert_eq!(
            classify(v(&["p", "--context=default", "finetune"])),
            Invocation::Cli(v(&["p", "--context=default"]))
        );
        assert_eq!(
            classify(v(&["p", "-D", "finetune", "--help"])),
            Invocation::Cli(v(&["p", "-D", "--help"]))
        );
    }

    #[test]
    fn direct_runs_are_left_alone() {
        assert_eq!(
            classify(v(&["p", "up", "finetune"])),
            Invocation::Cli(v(&["p", "up", "finetune"]))
        );
        // A job named `finetune` as an argument of a command is not the plugin word.
        assert_eq!(
            classify(v(&["p", "logs", "finetune"])),
            Invocation::Cli(v(&["p", "logs", "finetune"]))
        );
    }

    #[test]
    fn repeated_flags_are_collected_across_levels() {
        let a = v(&[
            "p",
            "-f",
            "a.yaml",
            "up",
            "--file",
            "b.yaml",
            "--file=c.yaml",
            "-fd.yaml",
            "--",
            "-f",
            "x",
        ]);
        assert_eq!(
            repeated(&a, Some("-f"), "--file"),
            ["a.yaml", "b.yaml", "c.yaml", "d.yaml"]
        );
        let p = v(&["p", "--profile", "gpu", "up", "--profile=db"]);
        assert_eq!(repeated(&p, None, "--profile"), ["gpu", "db"]);
    }

    #[test]
    fn provider_entry_is_found() {
        assert_eq!(
            provider_args(&v(&["p", "compose", "--project-name=x", "up", "svc"])),
            Some(v(&["--project-name=x", "up", "svc"]))
        );
        assert_eq!(provider_args(&v(&["p", "up"])), None);
        assert_eq!(
            provider_args(&v(&["p", "--context", "c", "compose", "metadata"])),
            Some(v(&["metadata"]))
        );
    }
}
