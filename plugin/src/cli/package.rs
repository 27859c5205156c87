//! `package` flags: a model image of a job's latest finished run.

use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The job whose latest finished run is packaged
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Image name and tag, REPO[:TAG] (default: <project>/<job>:v<run>-<model>-<yyyymmdd>)
    #[arg(long, short = 't', value_name = "REPO[:TAG]")]
    pub tag: Option<String>,
    /// Push the image to its registry (credentials from the docker config when it has them)
    #[arg(long)]
    pub push: bool,
    /// Quantize the linear layers first (scored on the job's eval set; figures in the labels)
    #[arg(long, value_enum, value_name = "SCHEME")]
    pub quantize: Option<Quantize>,
}

/// `--quantize` schemes (`finetune_spec::serving::QUANT_SCHEMES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Quantize {
    Int8,
}

impl Quantize {
    pub fn scheme(self) -> &'static str {
        match self {
            Quantize::Int8 => "int8",
        }
    }
}
