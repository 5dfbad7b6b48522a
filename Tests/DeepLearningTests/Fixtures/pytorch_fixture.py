"""The PyTorch fixture of SafeTensorsTests, and PyTorch's side of its interop test.

    python pytorch_fixture.py make         writes pytorch_model.safetensors and pytorch_io.json
                                           here (done once; both files are committed)
    python pytorch_fixture.py check FILE   loads FILE into the same nn.Sequential with
                                           load_state_dict(strict=True) and prints, as JSON, its
                                           eval-mode output for pytorch_io.json's input and
                                           BatchNorm's num_batches_tracked

The model: Conv2d(1, 3, 3, padding=1), BatchNorm2d(3), ReLU, MaxPool2d(2), Flatten,
Linear(27, 5), ReLU, Linear(5, 5) (the last one square, so that a transposed weight cannot load
unnoticed), on inputs [2, 1, 6, 6]. BatchNorm's weight and bias are drawn at random and its
running statistics moved by three training forward passes (num_batches_tracked 3); the output
is computed in eval mode.

The committed files were made once, with `python pytorch_fixture.py make` run by PyTorch
2.15.0 (the +cu132 wheel, on the CPU), safetensors 0.8.0 and Python 3, seed 0; pytorch_io.json
records the version.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "pytorch_model.safetensors")
IO = os.path.join(HERE, "pytorch_io.json")


def make_model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, padding=1),
        torch.nn.BatchNorm2d(3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(27, 5),
        torch.nn.ReLU(),
        torch.nn.Linear(5, 5),
    )


def as_json(tensor):
    return {"shape": list(tensor.shape), "values": [float(v) for v in tensor.flatten()]}


def make():
    torch.manual_seed(0)
    model = make_model()
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
        model.train()
        for _ in range(3):
            model(torch.randn(4, 1, 6, 6) * 2 + 0.5)
        model.eval()
        inputs = torch.randn(2, 1, 6, 6)
        outputs = model(inputs)
    save_file(model.state_dict(), MODEL)
    with open(IO, "w") as file:
        json.dump({"torch": torch.__version__, "input": as_json(inputs),
                   "output": as_json(outputs)}, file)
        file.write("\n")


def check(path):
    model = make_model()
    model.load_state_dict(load_file(path), strict=True)
    model.eval()
    with open(IO) as file:
        inputs = json.load(file)["input"]
    with torch.no_grad():
        outputs = model(torch.tensor(inputs["values"]).reshape(inputs["shape"]))
    print(json.dumps({"output": as_json(outputs),
                      "num_batches_tracked": int(model[1].num_batches_tracked)}))


if __name__ == "__main__":
    if sys.argv[1:] == ["make"]:
        make()
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        sys.exit(__doc__)
