"""In-play football 1X2: match states, the Poisson baseline with boosted corrections, training
from the feed's events."""
