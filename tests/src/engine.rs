//! Serialising tests on the one engine, and cleaning up after them.
//!
//! Every end-to-end test takes [`EngineLock`] first: jobs compete for 2 cores, and the
//! plugin's queue and GPU allocation look at the whole engine. A [`ProjectGuard`] removes every
//! container, network and named volume labelled with its Compose project when dropped, also when
//! the test panics, so a failed test cannot break the next one.

use crate::env::DockerEnv;
use std::sync::{Mutex, MutexGuard};

static ENGINE: Mutex<()> = Mutex::new(());

/// Held for the whole of a test that uses the engine.
pub struct EngineLock(#[allow(dead_code)] MutexGuard<'static, ()>);

/// Waits for the engine to be free. A panic in an earlier test does not poison it for the rest.
pub fn lock() -> EngineLock {
    EngineLock(ENGINE.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A unique Compose project name for one test (`ft-e2e-<test>-<pid>`).
pub fn project_name(test: &str) -> String {
    let clean: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("ft-e2e-{clean}-{}", std::process::id())
}

/// Removes a project's containers and networks when dropped.
pub struct ProjectGuard<'a> {
    pub env: &'a DockerEnv,
    pub project: String,
}

impl<'a> ProjectGuard<'a> {
    pub fn new(env: &'a DockerEnv, project: &str) -> ProjectGuard<'a> {
        let g = ProjectGuard {
            env,
            project: project.to_string(),
        };
        // Leftovers of an earlier, killed run with the same name.
        g.remove_all();
        g
    }

    fn label(&self) -> String {
        format!("label=com.docker.compose.project={}", self.project)
    }

    /// Container ids carrying either label: the Compose project's own, or the plugin's
    /// `com.docker.finetune.project` (jobs a provider service runs live in a Compose project
    /// of their own, `<project>-finetune`).
    fn ids(&self, all: bool) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        let finetune = format!("label=com.docker.finetune.project={}", self.project);
        for filter in [self.label(), finetune] {
            let flag = if all { "-aq" } else { "-q" };
            let out = self
                .env
                .docker(["ps", flag, "--no-trunc", "--filter", &filter]);
            for id in out.stdout.split_whitespace() {
                if !ids.iter().any(|x| x == id) {
                    ids.push(id.to_string());
                }
            }
        }
        ids
    }

    /// Ids of the project's containers (running or not), job containers included.
    pub fn containers(&self) -> Vec<String> {
        self.ids(true)
    }

    /// Ids of the project's running containers.
    pub fn running(&self) -> Vec<String> {
        self.ids(false)
    }

    pub fn remove_all(&self) {
        let ids = self.containers();
        if !ids.is_empty() {
            let mut args = vec!["rm".to_string(), "-f".to_string(), "-v".to_string()];
            args.extend(ids);
            self.env.docker(&args);
        }
        for project in [self.project.clone(), format!("{}-finetune", self.project)] {
            let filter = format!("label=com.docker.compose.project={project}");
            let nets = self
                .env
                .docker(["network", "ls", "-q", "--filter", &filter]);
            for n in nets.stdout.split_whitespace() {
                self.env.docker(["network", "rm", n]);
            }
            // Named volumes (a dataset image's data volume).
            let vols = self.env.docker(["volume", "ls", "-q", "--filter", &filter]);
            for v in vols.stdout.split_whitespace() {
                self.env.docker(["volume", "rm", v]);
            }
        }
    }
}

impl Drop for ProjectGuard<'_> {
    fn drop(&mut self) {
        self.remove_all();
    }
}
