"""Display names of the quantities a figure draws: one table, read by every figure of ``wgf.plot``.

A results file names each array by its key (``moments_cov_error``) and describes it by its ``long_name``
(``wgf.schema``: the file's words); a figure labels it by its display name, matplotlib mathtext such as
``$\\mathrm{MMD}$`` or ``covariance error $\\|C_\\mu - C_\\nu\\|_F$`` (no TeX installation needed).
``display_name(key)`` looks a key up in ``DISPLAY_NAMES``; a key not in the table (a metric or tracker
registered by a user) is shown with its underscores as spaces, never as a raw identifier; a text that
already is a label (a space or ``$...$`` in it) is kept, so a caller's own label passes through.
"""

from __future__ import annotations

__all__ = ["DISPLAY_NAMES", "N_RATE", "display_name"]

N_RATE = r"$N^{-1/2}$"  # the rate of the law of large numbers, as a guide line's label

DISPLAY_NAMES = {
    # distances between the particles and the PDE (validation.metrics.METRICS, /compare/<metric>)
    "mmd": r"$\mathrm{MMD}$",
    "energy": "energy distance",
    "w2": r"$W_2$",
    "sliced_w2": r"sliced $W_2$",
    "output_l2": r"output distance $\|\Phi_\mu - \Phi_\nu\|_{L^2(\pi_X)}$",
    "risk_gap": r"risk gap $|R(\mu) - R(\nu)|$",
    "moments_mean_error": r"mean error $|m_\mu - m_\nu|$",
    "moments_cov_error": r"covariance error $\|C_\mu - C_\nu\|_F$",
    # diagnostics of the particles and trackers of the PDE (/particles/N<N>, /pde, /sweep)
    "risk": r"risk $R$",
    "si_rmd2": r"$\mathrm{RMD}^2(\nu, P_E\#\nu)$",
    "wi_rmd2": r"$\mathrm{RMD}^2(\nu, \nu^G)$",
    "m2": r"second moment $\frac{1}{N}\sum_i |z_i|^2$",
    "free_energy": r"free energy $F$",
    # the flow's convergence to the minimizer rho* of F (/minimizer)
    "pde_free_energy_gap": r"$F(\rho_t) - F(\rho^*)$",
    "pde_distance": r"$\|\rho_t - \rho^*\|_{L^1}$",
    "mass": "total mass",
    "si_defect": r"$\int |z - P_E z|^2 \, d\mu$",
    "wi_defect": r"$\max_g \|\rho \circ M_g - \rho\|_1 / \|\rho\|_1$",
    "boundary_mass": "mass in the outermost cells",
    # the particles' fluctuations and their predicted limit (/fluctuations)
    "n_var": r"$N\,\mathrm{Var}_{\mathrm{seeds}}\,\langle f, \nu^N_t \rangle$",
    "fluctuation_limit": "predicted limit",
    # coordinates and varied keys (a sweep's dimension is the last part of its config key)
    "N": r"number of particles $N$",
    "time": r"mean-field time $t$",
    "seed": "seed",
    "beta": r"noise $\beta$",
    "tau": r"weight decay $\tau$",
    "alpha": r"step-size factor $\alpha$",
    "init_std": r"initial spread $\sigma_0$",
}


def display_name(key: str) -> str:
    """The label a figure gives the quantity ``key``: ``DISPLAY_NAMES[key]``; a text that already is a
    label (it has a space or mathtext ``$...$``) as it is; else ``key`` with its underscores as spaces."""
    key = str(key)
    if key in DISPLAY_NAMES:
        return DISPLAY_NAMES[key]
    if "$" in key or any(c.isspace() for c in key):
        return key
    return key.replace("_", " ")
