// Loads a SavedModel with TensorFlow's C++ loader, the function TF Serving's SavedModelBundleFactory
// calls (tensorflow::LoadSavedModel: the `serve` MetaGraphDef imported into a Session, the saver's
// restore op, the init op; never the object graph), then runs requests through Session::Run by one
// signature's tensor names, as TF Serving runs Predict requests and warmup records.
//
//   tf_loader_check EXPORT_DIR SIGNATURE REQUESTS OUTPUTS
//
// REQUESTS is a binary tensorflow.StructuredValue (struct.proto): a list with one dict per request,
// input alias -> tensor_value. OUTPUTS is written in the same form, output alias -> tensor_value.
// On failure: one line on stderr starting "FAILED: " (TensorFlow's status with its line breaks as
// spaces), exit 1 (the model does not load), 2 (a request fails) or 3 (usage, or the files).
// Built and run by tf_loader.py.
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/platform/env.h"
#include "tensorflow/core/protobuf/struct.pb.h"
#include "tensorflow/core/public/session.h"

namespace {

int Fail(int code, std::string message) {
  for (char& c : message) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  std::cerr << "FAILED: " << message << std::endl;
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    return Fail(3, "usage: tf_loader_check EXPORT_DIR SIGNATURE REQUESTS OUTPUTS");
  }
  const std::string export_dir = argv[1], signature_name = argv[2];
  tensorflow::StructuredValue requests;
  tensorflow::Status status = tensorflow::ReadBinaryProto(tensorflow::Env::Default(), argv[3], &requests);
  if (!status.ok()) return Fail(3, "cannot read " + std::string(argv[3]) + ": " + status.ToString());

  tensorflow::SavedModelBundle bundle;
  // "serve" is tensorflow::kSavedModelTagServe; tag_constants.h is not shipped in the pip wheel.
  status = tensorflow::LoadSavedModel(tensorflow::SessionOptions(), tensorflow::RunOptions(), export_dir,
                                      {"serve"}, &bundle);
  if (!status.ok()) return Fail(1, "LoadSavedModel: " + status.ToString());

  const auto& signatures = bundle.meta_graph_def.signature_def();
  const auto found = signatures.find(signature_name);
  if (found == signatures.end()) return Fail(1, "no signature " + signature_name + " in " + export_dir);
  const tensorflow::SignatureDef& signature = found->second;
  std::vector<std::string> output_aliases, output_names;
  for (const auto& [alias, info] : signature.outputs()) {
    output_aliases.push_back(alias);
    output_names.push_back(info.name());
  }

  tensorflow::StructuredValue replies;
  const auto& list = requests.list_value().values();
  for (int number = 0; number < list.size(); ++number) {
    const std::string which = "request " + std::to_string(number);
    std::vector<std::pair<std::string, tensorflow::Tensor>> feeds;
    for (const auto& [alias, value] : list[number].dict_value().fields()) {
      const auto input = signature.inputs().find(alias);
      if (input == signature.inputs().end()) return Fail(2, which + ": the signature has no input " + alias);
      tensorflow::Tensor tensor;
      if (!tensor.FromProto(value.tensor_value())) return Fail(2, which + ": input " + alias + " is no tensor");
      feeds.emplace_back(input->second.name(), std::move(tensor));
    }
    std::vector<tensorflow::Tensor> outputs;
    status = bundle.GetSession()->Run(feeds, output_names, {}, &outputs);
    if (!status.ok()) return Fail(2, which + ": Session::Run: " + status.ToString());
    auto* fields = replies.mutable_list_value()->add_values()->mutable_dict_value()->mutable_fields();
    for (size_t i = 0; i < outputs.size(); ++i) {
      outputs[i].AsProtoField((*fields)[output_aliases[i]].mutable_tensor_value());
    }
  }
  status = tensorflow::WriteBinaryProto(tensorflow::Env::Default(), argv[4], replies);
  if (!status.ok()) return Fail(3, "cannot write " + std::string(argv[4]) + ": " + status.ToString());
  return 0;
}
