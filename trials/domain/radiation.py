"""Radiobiology (docs/domain.md §9): BED = n·d·(1 + d/(α/β)); EQD2 = BED / (1 + 2/(α/β))."""

from __future__ import annotations

DEFAULT_ALPHA_BETA_GY = 10.0  # tumour


def bed(*, total_dose_gy: float, fractions: int, alpha_beta: float = DEFAULT_ALPHA_BETA_GY) -> float:
    if fractions <= 0 or total_dose_gy <= 0 or alpha_beta <= 0:
        raise ValueError("dose, fractions and α/β must be positive")
    d = total_dose_gy / fractions
    return total_dose_gy * (1 + d / alpha_beta)


def eqd2(*, total_dose_gy: float, fractions: int, alpha_beta: float = DEFAULT_ALPHA_BETA_GY) -> float:
    return bed(total_dose_gy=total_dose_gy, fractions=fractions, alpha_beta=alpha_beta) / (1 + 2 / alpha_beta)
