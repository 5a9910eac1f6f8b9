//! A faster graph for the local model, the same function. The default model stores its weights
//! as int8 but computes in float: every projection is `MatMul(x, Mul(Cast(W: int8),
//! scale[1, N]))`, which ONNX Runtime folds into float weights when the session starts. This
//! rewrite makes each such projection (and the bias `Add` after it) one
//! `com.microsoft.DynamicQuantizeMatMul`: the activations are quantized per call and multiplied
//! in integers against the stored int8 weights, unchanged. Two float patterns go too: the
//! attention's NaN guard after each softmax (it never fires: see below) and GELU written out in
//! five operators (one `com.microsoft.Gelu`). Vectors stay at a cosine of about 0.99 to the
//! float model's; the speed-up is in benches/RESULTS.md.
//!
//! The rewrite works on the protobuf wire format with `protobuf`'s coded streams: only the
//! fields it changes are decoded; everything else is copied byte for byte. A model without
//! the int8 pattern is returned unchanged (`None`).

use std::collections::{HashMap, HashSet};

use protobuf::rt::WireType;
use protobuf::{CodedInputStream, CodedOutputStream};

/// ONNX `TensorProto.DataType` values used here.
const FLOAT: i64 = 1;
const INT8: i64 = 3;

/// Field numbers of the ONNX messages touched.
mod field {
    pub const MODEL_GRAPH: u32 = 7;
    pub const MODEL_OPSET_IMPORT: u32 = 8;
    pub const GRAPH_NODE: u32 = 1;
    pub const GRAPH_INITIALIZER: u32 = 5;
    pub const NODE_INPUT: u32 = 1;
    pub const NODE_OUTPUT: u32 = 2;
    pub const NODE_NAME: u32 = 3;
    pub const NODE_OP_TYPE: u32 = 4;
    pub const NODE_DOMAIN: u32 = 7;
    pub const TENSOR_DIMS: u32 = 1;
    pub const TENSOR_DATA_TYPE: u32 = 2;
    pub const TENSOR_NAME: u32 = 8;
    pub const TENSOR_FLOAT_DATA: u32 = 4;
    pub const TENSOR_RAW_DATA: u32 = 9;
    pub const GRAPH_OUTPUT: u32 = 12;
    pub const VALUE_INFO_NAME: u32 = 1;
    pub const OPSET_DOMAIN: u32 = 1;
    pub const OPSET_VERSION: u32 = 2;
}

/// Why a model could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the model is not a readable ONNX file: {0}")]
pub struct RewriteError(String);

impl From<protobuf::Error> for RewriteError {
    fn from(error: protobuf::Error) -> Self {
        RewriteError(error.to_string())
    }
}

/// One field of a message: its number, its bytes as stored (tag included), and its value.
struct Field<'a> {
    number: u32,
    raw: &'a [u8],
    value: Value<'a>,
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

fn fields(bytes: &[u8]) -> Result<Vec<Field<'_>>, RewriteError> {
    let mut input = CodedInputStream::from_bytes(bytes);
    let mut out = Vec::new();
    loop {
        let start = input.pos() as usize;
        let Some(tag) = input.read_raw_tag_or_eof()? else {
            break;
        };
        let wire = WireType::new(tag & 7)
            .ok_or_else(|| RewriteError(format!("unknown wire type in tag {tag}")))?;
        let value = match wire {
            WireType::Varint => Value::Varint(input.read_raw_varint64()?),
            WireType::LengthDelimited => {
                let length = input.read_raw_varint32()?;
                let from = input.pos() as usize;
                input.skip_raw_bytes(length)?;
                Value::Bytes(&bytes[from..input.pos() as usize])
            }
            other => {
                input.skip_field(other)?;
                Value::Other
            }
        };
        out.push(Field {
            number: tag >> 3,
            raw: &bytes[start..input.pos() as usize],
            value,
        });
    }
    Ok(out)
}

/// The model's graph message, if it has one.
fn graph_of<'a>(top: &[Field<'a>]) -> Option<&'a [u8]> {
    top.iter().find_map(|f| match (f.number, &f.value) {
        (field::MODEL_GRAPH, Value::Bytes(b)) => Some(*b),
        _ => None,
    })
}

fn string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A graph node, as far as the rewrite reads it.
struct Node {
    inputs: Vec<String>,
    outputs: Vec<String>,
    op_type: String,
    domain: String,
}

fn node(bytes: &[u8]) -> Result<Node, RewriteError> {
    let mut node = Node {
        inputs: Vec::new(),
        outputs: Vec::new(),
        op_type: String::new(),
        domain: String::new(),
    };
    for f in fields(bytes)? {
        if let Value::Bytes(b) = f.value {
            match f.number {
                field::NODE_INPUT => node.inputs.push(string(b)),
                field::NODE_OUTPUT => node.outputs.push(string(b)),
                field::NODE_OP_TYPE => node.op_type = string(b),
                field::NODE_DOMAIN => node.domain = string(b),
                _ => {}
            }
        }
    }
    Ok(node)
}

/// An initializer's name, shape and type, with its bytes.
struct Tensor<'a> {
    raw: &'a [u8],
    dims: Vec<i64>,
    data_type: i64,
}

fn tensor(bytes: &[u8]) -> Result<(String, Tensor<'_>), RewriteError> {
    let mut name = String::new();
    let mut tensor = Tensor {
        raw: bytes,
        dims: Vec::new(),
        data_type: 0,
    };
    for f in fields(bytes)? {
        match (f.number, f.value) {
            (field::TENSOR_NAME, Value::Bytes(b)) => name = string(b),
            (field::TENSOR_DATA_TYPE, Value::Varint(v)) => tensor.data_type = v as i64,
            (field::TENSOR_DIMS, Value::Varint(v)) => tensor.dims.push(v as i64),
            // Packed dims.
            (field::TENSOR_DIMS, Value::Bytes(b)) => {
                let mut packed = CodedInputStream::from_bytes(b);
                while !packed.eof()? {
                    tensor.dims.push(packed.read_raw_varint64()? as i64);
                }
            }
            _ => {}
        }
    }
    Ok((name, tensor))
}

/// `tensor` under another name and shape, its data and type copied as stored.
fn reshaped(tensor: &Tensor<'_>, name: &str, dims: &[i64]) -> Result<Vec<u8>, RewriteError> {
    let mut out = Vec::new();
    {
        let mut stream = CodedOutputStream::vec(&mut out);
        for dim in dims {
            stream.write_int64(field::TENSOR_DIMS, *dim)?;
        }
        stream.write_string(field::TENSOR_NAME, name)?;
        for f in fields(tensor.raw)? {
            if f.number != field::TENSOR_DIMS && f.number != field::TENSOR_NAME {
                stream.write_raw_bytes(f.raw)?;
            }
        }
        stream.flush()?;
    }
    Ok(out)
}

/// A new node of ONNX Runtime's `com.microsoft` domain.
fn encode_node(
    op_type: &str,
    inputs: &[&str],
    output: &str,
    name: &str,
) -> Result<Vec<u8>, RewriteError> {
    let mut out = Vec::new();
    {
        let mut stream = CodedOutputStream::vec(&mut out);
        for input in inputs {
            stream.write_string(field::NODE_INPUT, input)?;
        }
        stream.write_string(field::NODE_OUTPUT, output)?;
        stream.write_string(field::NODE_NAME, name)?;
        stream.write_string(field::NODE_OP_TYPE, op_type)?;
        stream.write_string(field::NODE_DOMAIN, "com.microsoft")?;
        stream.flush()?;
    }
    Ok(out)
}

/// `node` (as stored) with its inputs renamed by `renamed`; other fields copied.
fn with_inputs_renamed(
    node: &[u8],
    renamed: &HashMap<String, String>,
) -> Result<Vec<u8>, RewriteError> {
    let mut out = Vec::with_capacity(node.len());
    {
        let mut stream = CodedOutputStream::vec(&mut out);
        for f in fields(node)? {
            match (f.number, f.value) {
                (field::NODE_INPUT, Value::Bytes(b)) if renamed.contains_key(&string(b)) => {
                    stream.write_string(field::NODE_INPUT, &renamed[&string(b)])?;
                }
                _ => stream.write_raw_bytes(f.raw)?,
            }
        }
        stream.flush()?;
    }
    Ok(out)
}

/// The value of a one-element float initializer (`raw_data` or packed `float_data`).
fn scalar(tensor: &Tensor<'_>) -> Option<f32> {
    if tensor.data_type != FLOAT || tensor.dims.iter().product::<i64>() != 1 {
        return None;
    }
    fields(tensor.raw)
        .ok()?
        .into_iter()
        .find_map(|f| match (f.number, f.value) {
            (field::TENSOR_RAW_DATA | field::TENSOR_FLOAT_DATA, Value::Bytes(b)) => {
                Some(f32::from_le_bytes(b.try_into().ok()?))
            }
            _ => None,
        })
}

/// The model with its weight-only int8 projections computed in int8, or `None` when it has
/// none (another model: used as it is).
pub fn dynamic_int8(model: &[u8]) -> Result<Option<Vec<u8>>, RewriteError> {
    let top = fields(model)?;
    let Some(graph_bytes) = graph_of(&top) else {
        return Ok(None);
    };
    let graph = fields(graph_bytes)?;
    let mut nodes = Vec::new();
    let mut initializers: HashMap<String, Tensor<'_>> = HashMap::new();
    for f in &graph {
        match (f.number, &f.value) {
            (field::GRAPH_NODE, Value::Bytes(b)) => nodes.push(node(b)?),
            (field::GRAPH_INITIALIZER, Value::Bytes(b)) => {
                let (name, t) = tensor(b)?;
                initializers.insert(name, t);
            }
            _ => {}
        }
    }
    let producer: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.as_str(), i)))
        .collect();
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for input in &n.inputs {
            consumers.entry(input.as_str()).or_default().push(i);
        }
    }
    let produced_by = |name: &str, op: &str| {
        producer
            .get(name)
            .copied()
            .filter(|&i| nodes[i].op_type == op && nodes[i].domain.is_empty())
    };

    // Node index → its replacement; nodes folded into a replacement are dropped.
    let mut replaced: HashMap<usize, Vec<u8>> = HashMap::new();
    let mut dropped: HashSet<usize> = HashSet::new();
    let mut added_initializers: Vec<Vec<u8>> = Vec::new();
    for (i, matmul) in nodes.iter().enumerate() {
        if matmul.op_type != "MatMul" || !matmul.domain.is_empty() || matmul.inputs.len() != 2 {
            continue;
        }
        let Some(mul) = produced_by(&matmul.inputs[1], "Mul") else {
            continue;
        };
        let mul_node = &nodes[mul];
        let [cast_out, scale_name] = mul_node.inputs.as_slice() else {
            continue;
        };
        let Some(cast) = produced_by(cast_out, "Cast") else {
            continue;
        };
        let Some(weight_name) = nodes[cast].inputs.first() else {
            continue;
        };
        let (Some(weight), Some(scale)) = (
            initializers.get(weight_name.as_str()),
            initializers.get(scale_name.as_str()),
        ) else {
            continue;
        };
        let [_, columns] = weight.dims.as_slice() else {
            continue;
        };
        if weight.data_type != INT8
            || scale.data_type != FLOAT
            || scale.dims.iter().product::<i64>() != *columns
        {
            continue;
        }
        // The per-column scale as the 1-D tensor the operator takes.
        let scale_1d = format!("{scale_name}__per_column");
        if !initializers.contains_key(&scale_1d) {
            added_initializers.push(reshaped(scale, &scale_1d, &[*columns])?);
        }
        // A bias added right after (a 1-D float initializer of N) goes into the operator.
        let mut output = matmul.outputs[0].clone();
        let mut inputs = vec![
            matmul.inputs[0].as_str(),
            weight_name.as_str(),
            scale_1d.as_str(),
        ];
        let bias = match consumers.get(output.as_str()).map(Vec::as_slice) {
            Some(&[add]) if nodes[add].op_type == "Add" && nodes[add].domain.is_empty() => nodes
                [add]
                .inputs
                .iter()
                .find(|input| **input != output)
                .filter(|b| {
                    initializers
                        .get(b.as_str())
                        .is_some_and(|t| t.data_type == FLOAT && t.dims.as_slice() == [*columns])
                })
                .map(|b| (add, b.clone())),
            _ => None,
        };
        if let Some((add, bias)) = &bias {
            inputs.push("");
            inputs.push(bias.as_str());
            output = nodes[*add].outputs[0].clone();
            dropped.insert(*add);
        }
        let name = format!("{output}__dynamic_int8");
        replaced.insert(
            i,
            encode_node("DynamicQuantizeMatMul", &inputs, &output, &name)?,
        );
        // The weight's Mul, and then its Cast, go when they feed nothing else (a weight
        // shared by two projections keeps them: dead, but correct).
        let feeds_only = |node: usize, user: usize| {
            nodes[node].outputs.iter().all(|o| {
                consumers
                    .get(o.as_str())
                    .is_some_and(|c| c.iter().all(|&n| n == user))
            })
        };
        if feeds_only(mul, i) {
            dropped.insert(mul);
            if feeds_only(cast, mul) {
                dropped.insert(cast);
            }
        }
    }
    if replaced.is_empty() {
        return Ok(None);
    }

    // The attention's NaN guard: `Where(IsNaN(p), 0, p)` after a softmax. A row of the softmax
    // is NaN only when every key of it is masked; the [CLS] key never is (mean pooling over
    // the attention mask needs at least one token anyway), so the guard never fires and costs
    // a tenth of a forward pass. Its users read the softmax directly.
    let graph_outputs: HashSet<String> = graph
        .iter()
        .filter(|f| f.number == field::GRAPH_OUTPUT)
        .filter_map(|f| match &f.value {
            Value::Bytes(b) => fields(b).ok()?.into_iter().find_map(|g| match g.value {
                Value::Bytes(name) if g.number == field::VALUE_INFO_NAME => Some(string(name)),
                _ => None,
            }),
            _ => None,
        })
        .collect();
    let sole_user = |name: &str| match consumers.get(name).map(Vec::as_slice) {
        Some(&[user]) if !graph_outputs.contains(name) => Some(user),
        _ => None,
    };
    let mut renamed: HashMap<String, String> = HashMap::new();
    for (i, guard) in nodes.iter().enumerate() {
        let [condition, _, value] = guard.inputs.as_slice() else {
            continue;
        };
        if guard.op_type != "Where" || !guard.domain.is_empty() {
            continue;
        }
        let Some(is_nan) = produced_by(condition, "IsNaN") else {
            continue;
        };
        if nodes[is_nan].inputs.first() != Some(value)
            || produced_by(value, "Softmax").is_none()
            || sole_user(condition) != Some(i)
            || graph_outputs.contains(&guard.outputs[0])
        {
            continue;
        }
        renamed.insert(guard.outputs[0].clone(), value.clone());
        dropped.insert(i);
        dropped.insert(is_nan);
    }

    // GELU written out, `Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)`: one `com.microsoft.Gelu`
    // (the same function, one kernel instead of five).
    let constant = |name: &str, expected: f32| {
        initializers
            .get(name)
            .and_then(scalar)
            .is_some_and(|v| (v - expected).abs() < 1e-4)
    };
    let other = |node: usize, known: &str| -> Option<String> {
        let inputs = &nodes[node].inputs;
        match inputs.as_slice() {
            [a, b] if a == known => Some(b.clone()),
            [a, b] if b == known => Some(a.clone()),
            _ => None,
        }
    };
    for (e, erf) in nodes.iter().enumerate() {
        if erf.op_type != "Erf" || !erf.domain.is_empty() || dropped.contains(&e) {
            continue;
        }
        let Some(div) = produced_by(&erf.inputs[0], "Div") else {
            continue;
        };
        let [x, root_two] = nodes[div].inputs.as_slice() else {
            continue;
        };
        let (Some(add), Some(_)) = (
            sole_user(&erf.outputs[0]),
            sole_user(&nodes[div].outputs[0]),
        ) else {
            continue;
        };
        if !constant(root_two, std::f32::consts::SQRT_2)
            || nodes[add].op_type != "Add"
            || !other(add, &erf.outputs[0]).is_some_and(|one| constant(&one, 1.0))
        {
            continue;
        }
        let Some(scale) = sole_user(&nodes[add].outputs[0]) else {
            continue;
        };
        if nodes[scale].op_type != "Mul" || other(scale, &nodes[add].outputs[0]).as_ref() != Some(x)
        {
            continue;
        }
        let Some(half) = sole_user(&nodes[scale].outputs[0]) else {
            continue;
        };
        if nodes[half].op_type != "Mul"
            || !other(half, &nodes[scale].outputs[0]).is_some_and(|h| constant(&h, 0.5))
        {
            continue;
        }
        let output = nodes[half].outputs[0].clone();
        let name = format!("{output}__gelu");
        replaced.insert(half, encode_node("Gelu", &[x.as_str()], &output, &name)?);
        dropped.extend([div, e, add, scale]);
    }

    let mut new_graph = Vec::with_capacity(graph_bytes.len() + 64 * 1024);
    {
        let mut stream = CodedOutputStream::vec(&mut new_graph);
        let mut index = 0;
        for f in &graph {
            if f.number == field::GRAPH_NODE {
                if let Some(bytes) = replaced.get(&index) {
                    stream.write_bytes(field::GRAPH_NODE, bytes)?;
                } else if dropped.contains(&index) {
                } else if nodes[index].inputs.iter().any(|i| renamed.contains_key(i)) {
                    let Value::Bytes(node) = f.value else {
                        return Err(RewriteError("a node that is not a message".into()));
                    };
                    stream.write_bytes(field::GRAPH_NODE, &with_inputs_renamed(node, &renamed)?)?;
                } else {
                    stream.write_raw_bytes(f.raw)?;
                }
                index += 1;
            } else {
                stream.write_raw_bytes(f.raw)?;
            }
        }
        for initializer in &added_initializers {
            stream.write_bytes(field::GRAPH_INITIALIZER, initializer)?;
        }
        stream.flush()?;
    }
    let mut opset = Vec::new();
    {
        let mut stream = CodedOutputStream::vec(&mut opset);
        stream.write_string(field::OPSET_DOMAIN, "com.microsoft")?;
        stream.write_int64(field::OPSET_VERSION, 1)?;
        stream.flush()?;
    }
    let mut out = Vec::with_capacity(model.len() + 64 * 1024);
    {
        let mut stream = CodedOutputStream::vec(&mut out);
        for f in &top {
            if f.number == field::MODEL_GRAPH {
                stream.write_bytes(field::MODEL_GRAPH, &new_graph)?;
            } else {
                stream.write_raw_bytes(f.raw)?;
            }
        }
        stream.write_bytes(field::MODEL_OPSET_IMPORT, &opset)?;
        stream.flush()?;
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor_bytes(name: &str, dims: &[i64], data_type: i64, raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = CodedOutputStream::vec(&mut out);
        for d in dims {
            s.write_int64(field::TENSOR_DIMS, *d).expect("write");
        }
        s.write_int64(field::TENSOR_DATA_TYPE, data_type)
            .expect("write");
        s.write_string(field::TENSOR_NAME, name).expect("write");
        s.write_bytes(9, raw).expect("write");
        s.flush().expect("flush");
        drop(s);
        out
    }

    fn node_bytes(op: &str, inputs: &[&str], output: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = CodedOutputStream::vec(&mut out);
        for i in inputs {
            s.write_string(field::NODE_INPUT, i).expect("write");
        }
        s.write_string(field::NODE_OUTPUT, output).expect("write");
        s.write_string(field::NODE_OP_TYPE, op).expect("write");
        s.flush().expect("flush");
        drop(s);
        out
    }

    /// x → MatMul(x, Mul(Cast(W), s)) → Add(b) → y, plus an unrelated Relu.
    fn model() -> Vec<u8> {
        model_with(&[])
    }

    /// [`model`] followed by `more` nodes, with the scalars they may use (`root_two`, `one`,
    /// `half`, `zero`).
    fn model_with(more: &[(&str, Vec<&str>, &str)]) -> Vec<u8> {
        let mut graph = Vec::new();
        let mut s = CodedOutputStream::vec(&mut graph);
        let base = [
            ("Cast", vec!["W"], "Wf"),
            ("Mul", vec!["Wf", "s"], "Ws"),
            ("MatMul", vec!["x", "Ws"], "xw"),
            ("Add", vec!["xw", "b"], "y"),
            ("Relu", vec!["y"], "z"),
        ];
        for (op, inputs, output) in base.iter().chain(more) {
            s.write_bytes(field::GRAPH_NODE, &node_bytes(op, inputs, output))
                .expect("write");
        }
        let scalar = |name: &str, v: f32| tensor_bytes(name, &[], FLOAT, &v.to_le_bytes());
        for t in [
            tensor_bytes("W", &[2, 3], INT8, &[1, 2, 3, 4, 5, 6]),
            tensor_bytes("s", &[1, 3], FLOAT, &[0; 12]),
            tensor_bytes("b", &[3], FLOAT, &[0; 12]),
            scalar("root_two", std::f32::consts::SQRT_2),
            scalar("one", 1.0),
            scalar("half", 0.5),
            scalar("zero", 0.0),
        ] {
            s.write_bytes(field::GRAPH_INITIALIZER, &t).expect("write");
        }
        s.flush().expect("flush");
        drop(s);
        let mut model = Vec::new();
        let mut s = CodedOutputStream::vec(&mut model);
        s.write_int64(1, 8).expect("ir_version");
        s.write_bytes(field::MODEL_GRAPH, &graph).expect("graph");
        s.flush().expect("flush");
        drop(s);
        model
    }

    fn graph_nodes(model: &[u8]) -> Vec<(String, Vec<String>, Vec<String>, String)> {
        let top = fields(model).expect("fields");
        let graph = graph_of(&top).expect("graph");
        fields(graph)
            .expect("graph fields")
            .into_iter()
            .filter_map(|f| match (f.number, f.value) {
                (field::GRAPH_NODE, Value::Bytes(b)) => {
                    let n = node(b).expect("node");
                    Some((n.op_type, n.inputs, n.outputs, n.domain))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_weight_only_projection_becomes_one_integer_operator_with_its_bias() {
        let rewritten = dynamic_int8(&model()).expect("reads").expect("rewrites");
        let nodes = graph_nodes(&rewritten);
        assert_eq!(
            nodes,
            vec![
                (
                    "DynamicQuantizeMatMul".to_string(),
                    vec![
                        "x".to_string(),
                        "W".to_string(),
                        "s__per_column".to_string(),
                        String::new(),
                        "b".to_string()
                    ],
                    vec!["y".to_string()],
                    "com.microsoft".to_string()
                ),
                (
                    "Relu".to_string(),
                    vec!["y".to_string()],
                    vec!["z".to_string()],
                    String::new()
                ),
            ]
        );
        // The per-column scale is 1-D; the opset of the operator is imported; the rest of
        // the model (ir_version) is kept.
        let top = fields(&rewritten).expect("fields");
        assert!(top.iter().any(|f| f.number == 1));
        assert!(top.iter().any(|f| f.number == field::MODEL_OPSET_IMPORT));
        let graph = graph_of(&top).expect("graph");
        let scale = fields(graph)
            .expect("fields")
            .into_iter()
            .filter_map(|f| match (f.number, f.value) {
                (field::GRAPH_INITIALIZER, Value::Bytes(b)) => Some(tensor(b).expect("tensor")),
                _ => None,
            })
            .find(|(name, _)| name == "s__per_column")
            .expect("1-D scale");
        assert_eq!(scale.1.dims, vec![3]);
        assert_eq!(scale.1.data_type, FLOAT);
    }

    #[test]
    fn the_softmax_nan_guard_goes_and_gelu_becomes_one_operator() {
        let rewritten = dynamic_int8(&model_with(&[
            ("Softmax", vec!["z"], "p"),
            ("IsNaN", vec!["p"], "nan"),
            ("Where", vec!["nan", "zero", "p"], "guarded"),
            ("Relu", vec!["guarded"], "r"),
            ("Div", vec!["r", "root_two"], "d"),
            ("Erf", vec!["d"], "e"),
            ("Add", vec!["e", "one"], "a"),
            ("Mul", vec!["r", "a"], "m"),
            ("Mul", vec!["m", "half"], "gelu"),
            // Not GELU: scaled by 0.25.
            ("Div", vec!["gelu", "root_two"], "d2"),
            ("Erf", vec!["d2"], "e2"),
            ("Add", vec!["e2", "one"], "a2"),
            ("Mul", vec!["gelu", "a2"], "m2"),
            ("Mul", vec!["m2", "zero"], "not_gelu"),
        ]))
        .expect("reads")
        .expect("rewrites");
        let ops: Vec<(String, Vec<String>)> = graph_nodes(&rewritten)
            .into_iter()
            .map(|(op, inputs, _, _)| (op, inputs))
            .collect();
        let op_names: Vec<&str> = ops.iter().map(|(op, _)| op.as_str()).collect();
        assert_eq!(
            op_names,
            [
                "DynamicQuantizeMatMul",
                "Relu",
                "Softmax",
                "Relu",
                "Gelu",
                "Div",
                "Erf",
                "Add",
                "Mul",
                "Mul"
            ]
        );
        // The guard's user reads the softmax; GELU reads its input.
        assert_eq!(ops[3].1, ["p"]);
        assert_eq!(ops[4].1, ["r"]);
    }

    #[test]
    fn a_model_without_the_pattern_is_left_alone_and_garbage_is_an_error() {
        let mut graph = Vec::new();
        let mut s = CodedOutputStream::vec(&mut graph);
        s.write_bytes(field::GRAPH_NODE, &node_bytes("MatMul", &["x", "W"], "y"))
            .expect("write");
        s.flush().expect("flush");
        drop(s);
        let mut model = Vec::new();
        let mut s = CodedOutputStream::vec(&mut model);
        s.write_bytes(field::MODEL_GRAPH, &graph).expect("graph");
        s.flush().expect("flush");
        drop(s);
        assert!(dynamic_int8(&model).expect("reads").is_none());
        assert!(dynamic_int8(b"\xff\xff\xff\xff").is_err());
        assert!(dynamic_int8(&self::model()[..20]).is_err());
    }
}
