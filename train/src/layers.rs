//! Layer constructors with PyTorch's default initialisation, so a model here starts where the
//! same model in PyTorch (or PyG) starts. tch's default Kaiming-uniform for `nn::linear` uses the
//! ReLU gain, a bound sqrt(6 / fan_in): 2.4x PyTorch's 1 / sqrt(fan_in), which measurably slows
//! early training of deep models.

use tch::nn;

/// `Linear(input -> output)` with weights and bias uniform in `±1/sqrt(input)`.
pub fn linear(path: nn::Path, input: i64, output: i64, bias: bool) -> nn::Linear {
    let bound = 1.0 / (input as f64).sqrt();
    let init = nn::Init::Uniform { lo: -bound, up: bound };
    nn::linear(path, input, output, nn::LinearConfig { ws_init: init, bs_init: bias.then_some(init), bias })
}

/// `Linear(input -> output)` with Glorot-uniform weights and a zero bias (PyG's GCN and GAT).
pub fn glorot_linear(path: nn::Path, input: i64, output: i64, bias: bool) -> nn::Linear {
    let bound = (6.0 / (input + output) as f64).sqrt();
    let ws_init = nn::Init::Uniform { lo: -bound, up: bound };
    nn::linear(path, input, output, nn::LinearConfig { ws_init, bs_init: bias.then_some(nn::Init::Const(0.0)), bias })
}
