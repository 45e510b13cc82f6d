"""Pure identity logic: the minimised model, group flattening and the change plan of a sync run."""
