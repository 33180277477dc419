import torchvision.models as m, sys
# Writes <arch>.txt: one line per state_dict entry (num_batches_tracked excluded): name dims
for n in ["resnet18","resnet50","mobilenet_v2","squeezenet1_1","squeezenet1_0","vgg16","alexnet","mnasnet1_0","inception_v3"]:
    kw = dict(aux_logits=True, init_weights=False) if n == "inception_v3" else {}
    model = getattr(m, n)(weights=None, **kw)
    with open(n + ".txt", "w") as f:
        f.write("# torchvision %s state_dict of %s(weights=None): name dims (num_batches_tracked omitted); parameters() total %d\n" % (__import__('torchvision').__version__, n, sum(p.numel() for p in model.parameters())))
        for k, v in model.state_dict().items():
            if k.endswith("num_batches_tracked"): continue
            f.write("%s %s\n" % (k, ",".join(str(d) for d in v.shape)))
