"""Neural-network potentials: SchNetPack PaiNN, SO3net and SchNet, neighbour lists, the model file, imports."""
