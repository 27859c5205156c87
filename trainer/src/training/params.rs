//! Walking a module's float parameters by their dotted path (`bert.layers.0.attention.query.base.weight`):
//! the key under which checkpoints store weights and optimizer moments, stable across processes
//! (burn's `ParamId`s are random per load, so they cannot key saved state).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use std::collections::BTreeMap;

/// Tracks the dotted path of the parameter being visited.
#[derive(Default)]
pub struct PathStack(Vec<String>);

impl PathStack {
    pub fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    pub fn exit(&mut self) {
        self.0.pop();
    }
    pub fn path(&self) -> String {
        self.0.join(".")
    }
}

/// Every float parameter's value by path (as f32 [`TensorData`]), in visiting order.
pub fn named_params<B: Backend, M: Module<B>>(module: &M) -> BTreeMap<String, TensorData> {
    struct Collect {
        path: PathStack,
        out: BTreeMap<String, TensorData>,
    }
    impl<B: Backend> ModuleVisitor<B> for Collect {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            let data = p.val().into_data().convert::<f32>();
            self.out.insert(self.path.path(), data);
        }
    }
    let mut c = Collect {
        path: PathStack::default(),
        out: BTreeMap::new(),
    };
    module.visit(&mut c);
    c.out
}

/// Replaces every float parameter with the value saved under its path, keeping its `ParamId` and
/// `require_grad`. Returns the paths that were missing or had another shape.
pub fn load_named_params<B: Backend, M: Module<B>>(
    module: M,
    values: &BTreeMap<String, TensorData>,
) -> (M, Vec<String>) {
    struct Load<'a> {
        path: PathStack,
        values: &'a BTreeMap<String, TensorData>,
        problems: Vec<String>,
    }
    impl<B: Backend> ModuleMapper<B> for Load<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.exit();
        }
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let path = self.path.path();
            let (id, tensor, mapper) = p.consume();
            let Some(data) = self.values.get(&path) else {
                self.problems.push(format!("{path}: missing"));
                return Param::from_mapped_value(id, tensor, mapper);
            };
            if data.shape.as_slice() != tensor.shape().as_slice() {
                self.problems.push(format!(
                    "{path}: shape {:?}, expected {:?}",
                    data.shape,
                    tensor.shape().as_slice()
                ));
                return Param::from_mapped_value(id, tensor, mapper);
            }
            let grad = tensor.is_require_grad();
            let mut t = Tensor::<B, D>::from_data(data.clone(), &tensor.device());
            if grad {
                t = t.require_grad();
            }
            Param::from_mapped_value(id, t, mapper)
        }
    }
    let mut l = Load {
        path: PathStack::default(),
        values,
        problems: Vec::new(),
    };
    let module = module.map(&mut l);
    (module, l.problems)
}
