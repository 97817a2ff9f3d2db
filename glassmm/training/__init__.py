"""Training and evaluation of BOTAN / T-BOTAN models."""
