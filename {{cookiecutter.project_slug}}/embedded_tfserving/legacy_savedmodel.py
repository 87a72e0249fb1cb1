"""TF 1.0-era SavedModels (such as TF Serving's saved_model_half_plus_three), loaded as TF Serving reads them.

TF Serving loads a TF1 SavedModel with TensorFlow's C++ loader (SavedModelBundle: the GraphDef
imported into a Session at the GraphDef's own producer version). `tf.saved_model.load` imports
the graph the same way, then prunes one function per SignatureDef into a new graph at the
*current* version, and there two things written by TF 1.0 exporters read differently:

- A Placeholder whose `shape` attr is `shape {}`. Before GraphDef version 22 a scalar could not be
  told from "unknown", so TF's Placeholder shape function reads it as an unknown shape when the
  producer is <= 21 (tensorflow/core/ops/array_ops.cc, REGISTER_OP("Placeholder"); version 22 in
  tensorflow/core/public/version.h). Pruned into a current graph it becomes a scalar, and an op
  after it may then fail: "Shape must be rank 1 but is rank 0 for ... ParseExample".
- A SignatureDef TensorInfo without `tensor_shape` (TF 1.0's build_tensor_info wrote none). The C++
  loader never reads it; the Python loader sets it on the tensor as a scalar ("Shapes must be
  equal rank, but are 2 and 0").

For such models only, the Python loader gets an in-memory copy of the MetaGraphDef in which those
shapes say `unknown_rank: true`, which is what they mean to TF Serving. Nothing is written to
disk, and the SignatureDefs the server reports stay the file's own (Servable reads them apart).
Every other model loads through `tf.saved_model.load` untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The last GraphDef version whose Placeholder `shape {}` means "unknown" (array_ops.cc: `graph_def_version() <= 21`).
LAST_PRODUCER_WITHOUT_SCALAR_PLACEHOLDERS = 21


def needs_rewrite(meta_graph: Any) -> bool:
    """Whether the Python loader would read a shape of `meta_graph` otherwise than TF Serving's C++ loader."""
    if meta_graph.HasField("object_graph_def"):  # a TF2 SavedModel: loaded from its object graph, not pruned
        return False
    return bool(_legacy_placeholders(meta_graph) or _unshaped_tensor_infos(meta_graph))


def rewrite_legacy_shapes(meta_graph: Any) -> int:
    """Write, in place, the shapes TF's C++ loader reads as unknown as `unknown_rank: true`; how many changed."""
    placeholders, infos = _legacy_placeholders(meta_graph), _unshaped_tensor_infos(meta_graph)
    for node in placeholders:
        node.attr["shape"].shape.unknown_rank = True
    for info in infos:
        info.tensor_shape.unknown_rank = True
    return len(placeholders) + len(infos)


def load_rewritten(path: Path, tags: list[str]) -> Any:
    """`tf.saved_model.load(path, tags)` for a TF1 SavedModel, its MetaGraphDefs rewritten in memory first.

    The loader class is the one `tf.saved_model.load` uses for TF1 SavedModels; it parses
    saved_model.pb into its own proto, which is the only copy rewritten.
    """
    import tensorflow as tf
    from tensorflow.python.saved_model import load_v1_in_v2

    loader = load_v1_in_v2._EagerSavedModelLoader(str(path))
    for meta_graph in loader.saved_model.meta_graphs:
        rewrite_legacy_shapes(meta_graph)
    with tf.init_scope():
        return loader.load(tags=tags)


def _legacy_placeholders(meta_graph: Any) -> list[Any]:
    """Placeholders TF's shape function reads as unknown while their attr says scalar (`shape.dims() <= 0`)."""
    if meta_graph.graph_def.versions.producer > LAST_PRODUCER_WITHOUT_SCALAR_PLACEHOLDERS:
        return []
    return [node for node in meta_graph.graph_def.node
            if node.op == "Placeholder" and "shape" in node.attr  # no attr: the default, already unknown
            and node.attr["shape"].WhichOneof("value") == "shape"
            and not node.attr["shape"].shape.unknown_rank and not node.attr["shape"].shape.dim]


def _unshaped_tensor_infos(meta_graph: Any) -> list[Any]:
    """Dense TensorInfos with no `tensor_shape` at all (a recorded scalar is an empty but present field)."""
    return [info for signature in meta_graph.signature_def.values()
            for info in (*signature.inputs.values(), *signature.outputs.values())
            if info.WhichOneof("encoding") == "name" and not info.HasField("tensor_shape")]
