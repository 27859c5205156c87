//! The trainer's integration tests, one binary (burn is linked once): model loading and export
//! on a tiny random BERT, `pytorch_model.bin` reading, the training loop through the binary
//! (resume, signals, early stopping), and, with the MiniLM fixtures, parity with PyTorch and a
//! real fine-tune; `serve` over real HTTP and `quantize` (int8); GPT-2 against transformers and
//! its causal-LM exports (HF directory, PEFT adapter). Tests that need the fixtures skip with a
//! message when they are absent, and fail under CI=true.

mod causal_train;
mod common;
mod data_inputs;
mod early_stopping;
mod generate;
mod gpt2;
mod gpt2_export;
mod llama;
mod minilm_finetune;
mod model_tiny;
mod parity;
mod precision;
mod quantize;
mod redaction;
mod resume;
mod serve;
mod serving_common;
mod threads;
mod torch_bin;
