"""Train chapter 10's digits MLP with DistributedDataParallel (chapter 11).

Run with ``torchrun --nproc_per_node=2 train_ddp.py OUT.pt``. ``DistributedSampler`` gives each process
its share of every epoch's shuffled order; with a per-process batch of 32, the k-th batches of the two
processes together are exactly the k-th global batch of 64 that ``global_batches`` yields for one process.
"""
import sys

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

GLOBAL_BATCH, EPOCHS, SEED = 64, 2, 1


def make_model():
    torch.manual_seed(0)  # every process starts from the same weights
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def digits_dataset():
    digits = load_digits()
    return TensorDataset(torch.tensor(digits.data / 16, dtype=torch.float32), torch.tensor(digits.target))


def global_batches(num_rows, world_size):
    """The global batches a DDP run of world_size processes trains on, in order (for the one-process check)."""
    per_process = GLOBAL_BATCH // world_size
    steps = -(-num_rows // world_size) // per_process  # DistributedSampler pads to a multiple of world_size
    for epoch in range(EPOCHS):
        order = torch.randperm(num_rows, generator=torch.Generator().manual_seed(SEED + epoch))  # the sampler's order
        for step in range(steps):
            yield order[step * GLOBAL_BATCH:(step + 1) * GLOBAL_BATCH]


def main(out):
    dist.init_process_group("gloo")  # torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT
    world = dist.get_world_size()
    data = digits_dataset()
    sampler = DistributedSampler(data, shuffle=True, seed=SEED)  # this process's share of each epoch
    loader = DataLoader(data, batch_size=GLOBAL_BATCH // world, sampler=sampler, drop_last=True)
    model = nn.parallel.DistributedDataParallel(make_model())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same in every process
        for X, y in loader:
            loss = nn.functional.cross_entropy(model(X), y)
            optimizer.zero_grad()
            loss.backward()  # gradients are averaged across the processes here
            optimizer.step()
    if dist.get_rank() == 0:
        torch.save(model.module.state_dict(), out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
