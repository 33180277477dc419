# Manual numeric check (see networks/README.md): writes torchvision models with random weights
# and calibrated BatchNorm statistics, an input batch and the softmax output to /tmp/qb/tv/<arch>/;
# then run: bazel run //networks:torchvision_compare -- /tmp/qb/tv <arch>...
import torch, torchvision.models as m, sys, os
torch.manual_seed(0)
names = sys.argv[1:]
for n in names:
    kw = dict(aux_logits=True, init_weights=True) if n == "inception_v3" else {}
    model = getattr(m, n)(weights=None, **kw).eval()
    # non-trivial BN statistics and biases
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
                mod.reset_running_stats(); mod.momentum = None
    size = 299 if n == "inception_v3" else 224
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, size, size))
    model.eval()
    d = "/tmp/qb/tv/" + n; os.makedirs(d, exist_ok=True)
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"): continue
        v.detach().float().contiguous().numpy().tofile(d + "/" + k + ".f32")
    size = 299 if n == "inception_v3" else 224
    x = torch.randn(2, 3, size, size)
    x.numpy().tofile(d + "/input.f32")
    with torch.no_grad():
        logits = model(x)
    torch.softmax(logits.double(), 1).float().numpy().tofile(d + "/expected.f32")
    print(n, "done", logits.abs().max().item())
