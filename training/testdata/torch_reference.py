"""Reference trajectories of PyTorch 1.13's optimizers, gradient clipping and LR schedulers.

training/optimizer_test.cc and training/lr_schedule_test.cc replay every case of the output
and compare their own results to it. Regenerate (from the workspace root) with

    /usr/bin/python3 training/testdata/torch_reference.py > training/testdata/torch_reference.txt

Every hyper-parameter is rounded to float32 first, because the C++ API holds them as float:
both sides then start from the same numbers. Values are printed with 9 significant digits,
which round-trips float32 exactly.

Line format (whitespace separated):
    optimizer NAME key=value ...          a case; keys mirror OptimizerSpec
    tensor NAME decay=0|1 v...            initial values of a parameter
    step K lr=LR                          one optimizer step at learning rate LR ...
    grad NAME v...                        ... with this raw gradient (before clipping)
    after NAME v...                       ... and the parameter afterwards
    reset                                 the optimizer state is dropped (new torch optimizer)
    state NAME v...                       final state (SGD: velocity; Adam: exp_avg, exp_avg_sq)
    end
    schedule NAME key=value ...           a case; keys mirror LrScheduleSpec
    lr PROGRESS LR RESTART                lr at PROGRESS epochs; RESTART=1 when the scheduler
                                          began a new period in (previous point, this point]
    end
    loss NAME kind=K batch=B classes=C temperature=T
    input student|teacher v...            float32 logits, batch x classes
    labels l...                           cross-entropy only
    value V                               the loss, computed by torch in float64
    grad v...                             its gradient with respect to the student logits
    end
"""
import math

import numpy as np
import torch


def f32(x):
    return float(np.float32(x))


def fmt(values):
    return " ".join("%.9g" % v for v in values)


def gradient_sequence(rng, shapes, steps, scale):
    return [[(rng.standard_normal(n) * scale).astype(np.float32) for n in shapes]
            for _ in range(steps)]


def run_optimizer(name, kind, lrs, momentum=0.0, nesterov=False, weight_decay=0.0,
                  decoupled=False, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=0.0,
                  reset_after=None, grad_scale=1.0, seed=0):
    momentum, weight_decay, beta1, beta2, eps, clip_norm = map(
        f32, (momentum, weight_decay, beta1, beta2, eps, clip_norm))
    lrs = [f32(lr) for lr in lrs]
    rng = np.random.default_rng(seed)
    # A decayed "weight" and an undecayed "bias", odd sizes.
    names, shapes, decays = ["w", "b"], [7, 3], [True, False]
    params = [torch.tensor(rng.standard_normal(n).astype(np.float32)) for n in shapes]
    for p in params:
        p.requires_grad_(True)
    grads = gradient_sequence(rng, shapes, len(lrs), grad_scale)

    print("optimizer %s kind=%s momentum=%.9g nesterov=%d weight_decay=%.9g decoupled=%d "
          "beta1=%.9g beta2=%.9g eps=%.9g clip_norm=%.9g" %
          (name, kind, momentum, int(nesterov), weight_decay, int(decoupled), beta1, beta2, eps,
           clip_norm))
    for n, p, d in zip(names, params, decays):
        print("tensor %s decay=%d %s" % (n, int(d), fmt(p.detach().numpy())))

    def make():
        groups = [{"params": [p], "weight_decay": weight_decay if d else 0.0}
                  for p, d in zip(params, decays)]
        if kind == "sgd":
            return torch.optim.SGD(groups, lr=lrs[0], momentum=momentum, nesterov=nesterov,
                                   foreach=False)
        cls = torch.optim.AdamW if decoupled else torch.optim.Adam
        return cls(groups, lr=lrs[0], betas=(beta1, beta2), eps=eps, foreach=False)

    opt = make()
    for k, lr in enumerate(lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        for p, g in zip(params, grads[k]):
            p.grad = torch.tensor(g)
        print("step %d lr=%.9g" % (k, lr))
        for n, g in zip(names, grads[k]):
            print("grad %s %s" % (n, fmt(g)))
        if clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        opt.step()
        for n, p in zip(names, params):
            print("after %s %s" % (n, fmt(p.detach().numpy())))
        if reset_after is not None and k == reset_after:
            print("reset")
            opt = make()
    for n, p in zip(names, params):
        st = opt.state[p]
        if kind == "sgd":
            if st.get("momentum_buffer") is not None:
                print("state %s %s" % (n, fmt(st["momentum_buffer"].numpy())))
        else:
            print("state %s %s" % (n, fmt(np.concatenate([st["exp_avg"].numpy(),
                                                          st["exp_avg_sq"].numpy()]))))
    print("end")


def run_schedule(header, scheduler_factory, steps, steps_per_epoch):
    """Steps a torch scheduler once per batch and prints lr at progress = step / steps_per_epoch."""
    param = torch.zeros(1, requires_grad=True)
    base_lr = float(header["lr"])
    opt = torch.optim.SGD([param], lr=base_lr)
    scheduler = scheduler_factory(opt)
    print("schedule " + " ".join("%s=%s" % kv for kv in header.items()))
    previous_t_cur = None
    for step in range(steps + 1):
        restart = 0
        t_cur = getattr(scheduler, "T_cur", None)
        if t_cur is not None and previous_t_cur is not None and t_cur < previous_t_cur:
            restart = 1
        previous_t_cur = t_cur
        print("lr %.9g %.17g %d" % (step / steps_per_epoch, opt.param_groups[0]["lr"], restart))
        opt.step()
        scheduler.step()
    print("end")


def run_loss(name, kind, batch, classes, temperature=1.0, seed=0, scale=3.0):
    """A loss and its autograd gradient on float32 logits, in float64 (torch.nn.functional)."""
    F = torch.nn.functional
    rng = np.random.default_rng(seed)
    student32 = (rng.standard_normal((batch, classes)) * scale).astype(np.float32)
    teacher32 = (rng.standard_normal((batch, classes)) * scale).astype(np.float32)
    labels = rng.integers(0, classes, batch)
    s = torch.tensor(student32, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(teacher32, dtype=torch.float64)
    T = f32(temperature)
    if kind == "cross_entropy":
        loss = F.cross_entropy(s, torch.tensor(labels))
    elif kind == "kl":
        loss = F.kl_div(F.log_softmax(s / T, dim=1), F.log_softmax(t / T, dim=1),
                        reduction="batchmean", log_target=True) * T * T
    elif kind == "rmse":
        loss = torch.sqrt(F.mse_loss(s, t))
    else:  # the FAT code's smoothed L1: per image, sum over classes; mean over the batch
        loss = torch.sqrt((s - t) ** 2 + 1e-5).sum(dim=1).mean()
    loss.backward()
    print("loss %s kind=%s batch=%d classes=%d temperature=%.9g" % (name, kind, batch, classes, T))
    print("input student %s" % fmt(student32.ravel()))
    if kind != "cross_entropy":
        print("input teacher %s" % fmt(teacher32.ravel()))
    else:
        print("labels %s" % " ".join(str(int(l)) for l in labels))
    print("value %.17g" % loss.item())
    print("grad %s" % " ".join("%.17g" % v for v in s.grad.numpy().ravel()))
    print("end")


def main():
    print("# torch %s; regenerate: /usr/bin/python3 training/testdata/torch_reference.py "
          "> training/testdata/torch_reference.txt" % torch.__version__)
    sgd_lrs = [0.1, 0.1, 0.05, 0.05, 0.02, 0.01, 0.01]
    adam_lrs = [1e-2, 1e-2, 5e-3, 5e-3, 2e-3, 1e-3, 1e-3]
    run_optimizer("sgd_plain", "sgd", sgd_lrs, seed=1)
    run_optimizer("sgd_plain_decay", "sgd", sgd_lrs, weight_decay=0.01, seed=2)
    run_optimizer("sgd_momentum", "sgd", sgd_lrs, momentum=0.9, weight_decay=5e-4, seed=3)
    run_optimizer("sgd_nesterov", "sgd", sgd_lrs, momentum=0.9, nesterov=True,
                  weight_decay=1e-3, seed=4)
    run_optimizer("sgd_momentum_reset", "sgd", sgd_lrs, momentum=0.8, weight_decay=1e-3,
                  reset_after=3, seed=5)
    run_optimizer("sgd_clip", "sgd", sgd_lrs, momentum=0.9, clip_norm=2.5, grad_scale=1.0,
                  seed=6)
    run_optimizer("adam", "adam", adam_lrs, seed=7)
    run_optimizer("adam_l2", "adam", adam_lrs, weight_decay=0.01, beta1=0.8, beta2=0.99,
                  eps=1e-6, seed=8)
    run_optimizer("adamw", "adam", adam_lrs, weight_decay=0.05, decoupled=True, seed=9)
    run_optimizer("adam_reset", "adam", adam_lrs, reset_after=2, seed=10)
    run_optimizer("adam_clip", "adam", adam_lrs, clip_norm=1.5, grad_scale=2.0, seed=11)

    sched = torch.optim.lr_scheduler
    per_epoch = 4  # the C++ side evaluates at fractional progress step / 4
    run_schedule({"kind": "multistep", "lr": "0.1", "milestones": "3,5,8", "gamma": "0.2"},
                 lambda o: sched.MultiStepLR(o, milestones=[3 * per_epoch, 5 * per_epoch,
                                                            8 * per_epoch], gamma=0.2),
                 10 * per_epoch, per_epoch)
    run_schedule({"kind": "cosine", "lr": "0.1", "min_lr": "0.001", "epochs": "10"},
                 lambda o: sched.CosineAnnealingLR(o, T_max=10 * per_epoch, eta_min=0.001),
                 10 * per_epoch, per_epoch)
    run_schedule({"kind": "cosine", "lr": "0.05", "min_lr": "0", "epochs": "3"},
                 lambda o: sched.CosineAnnealingLR(o, T_max=3 * per_epoch, eta_min=0.0),
                 3 * per_epoch, per_epoch)
    run_schedule({"kind": "cosine_restarts", "lr": "0.1", "min_lr": "0.001", "period": "3",
                  "period_mult": "2"},
                 lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=3 * per_epoch, T_mult=2,
                                                             eta_min=0.001),
                 (3 + 6 + 12 + 5) * per_epoch, per_epoch)
    run_schedule({"kind": "cosine_restarts", "lr": "0.001", "min_lr": "0", "period": "2.5",
                  "period_mult": "1"},
                 lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=1, eta_min=0.0),
                 9 * per_epoch, per_epoch)

    run_loss("cross_entropy", "cross_entropy", 6, 10, seed=12)
    run_loss("cross_entropy_wide", "cross_entropy", 3, 101, seed=13, scale=20.0)
    run_loss("kl_t1", "kl", 5, 7, temperature=1.0, seed=14)
    run_loss("kl_t4", "kl", 5, 7, temperature=4.0, seed=15)
    run_loss("rmse", "rmse", 4, 9, seed=16)
    run_loss("l1_fat", "l1", 4, 9, seed=17)


if __name__ == "__main__":
    main()
