# R oracle for analytics/stats: reads an ADTTE CSV (columns as in cohort.py)
# and prints one "section<TAB>key<TAB>value" line per reference number.
# Usage: Rscript oracle.R cohort.csv
# Used (1) once, to produce the literals in tests/analytics/test_stats_*.py,
# and (2) live by test_stats_r_oracle.py when RUN_R_ORACLE=1.
# Packages: R 4.2.2, survival 3.5.3, cmprsk 2.2-11 (Debian r-cran-*).
suppressPackageStartupMessages({ library(survival); library(cmprsk) })
invisible(Sys.setlocale("LC_COLLATE", "C"))  # level order as Python's sorted()
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
out <- function(section, key, value) {
  cat(sprintf("%s\t%s\t%s\n", section, key, ifelse(is.na(value), "NA", sprintf("%.15g", value))))
}
z <- qnorm(0.975)

# Overall survival: Kaplan-Meier, Greenwood, conf.type = "log" (defaults).
km <- survfit(Surv(os_days, os_event) ~ 1, data = d)
s <- summary(km)
for (i in seq_along(s$time)) {
  k <- s$time[i]
  out("os_km", paste0("estimate@", k), s$surv[i]); out("os_km", paste0("ci_low@", k), s$lower[i])
  out("os_km", paste0("ci_high@", k), s$upper[i]); out("os_km", paste0("at_risk@", k), s$n.risk[i])
}
sl <- summary(km, times = c(30, 90, 180, 365), extend = TRUE)
for (i in seq_along(sl$time)) out("os_km", paste0("landmark@", sl$time[i]), sl$surv[i])

# SRE, 1 - KM with deaths censored.
km1 <- survfit(Surv(sre_days, sre_event == 1) ~ 1, data = d)
s <- summary(km1)
for (i in seq_along(s$time)) {
  k <- s$time[i]
  out("sre_km", paste0("estimate@", k), 1 - s$surv[i]); out("sre_km", paste0("ci_low@", k), 1 - s$upper[i])
  out("sre_km", paste0("ci_high@", k), 1 - s$lower[i]); out("sre_km", paste0("at_risk@", k), s$n.risk[i])
}

# SRE cumulative incidence, Aalen-Johansen, death competing: cmprsk::cuminc.
ci <- cuminc(d$sre_days, d$sre_event, cencode = 0)[["1 1"]]
keep <- seq(3, length(ci$time) - 1, by = 2)  # the post-jump corner of each step
for (i in keep) {
  k <- ci$time[i]; est <- ci$est[i]; se <- sqrt(ci$var[i])
  out("sre_aj", paste0("estimate@", k), est); out("sre_aj", paste0("var@", k), ci$var[i])
  out("sre_aj", paste0("ci_low@", k), est^exp(-z * se / (est * log(est))))
  out("sre_aj", paste0("ci_high@", k), est^exp(z * se / (est * log(est))))
}
tp <- timepoints(cuminc(d$sre_days, d$sre_event, cencode = 0), c(30, 90, 180, 365))
for (k in c(30, 90, 180, 365)) {
  out("sre_aj", paste0("landmark@", k), tp$est["1 1", as.character(k)])
  out("sre_aj", paste0("landmark_var@", k), tp$var["1 1", as.character(k)])
}
# Cross-check of the estimate by survfit's multi-state Aalen-Johansen.
ms <- survfit(Surv(sre_days, factor(sre_event, 0:2)) ~ 1, data = d)
out("sre_aj", "survfit_ms_at_365", summary(ms, times = 365, extend = TRUE)$pstate[, 2])

# Log-rank (survdiff, rho = 0); SRE cause-specific.
lr <- function(section, f) {
  sd <- survdiff(f, data = d)
  out(section, "chisq", sd$chisq)
  lv <- sub(".*=", "", names(sd$n))
  for (i in seq_along(lv)) { out(section, paste0("observed@", lv[i]), sd$obs[i]); out(section, paste0("expected@", lv[i]), sd$exp[i]) }
}
lr("lr_os_modality", Surv(os_days, os_event) ~ modality)
lr("lr_os_region", Surv(os_days, os_event) ~ region)
lr("lr_sre_augmentation", Surv(sre_days, sre_event == 1) ~ augmentation)
lr("lr_sre_modality", Surv(sre_days, sre_event == 1) ~ modality)

# Cox (Efron ties, the coxph default); reference = most frequent level, ties alphabetical.
ref <- function(x) { tab <- table(x); names(tab)[order(-tab, names(tab))][1] }
for (v in c("modality", "augmentation", "radiation_sequence", "region")) d[[v]] <- relevel(factor(d[[v]]), ref(d[[v]]))
cx <- function(section, f) {
  fit <- coxph(f, data = d, ties = "efron")
  sm <- summary(fit)
  for (term in rownames(sm$coefficients)) {
    out(section, paste0("hr@", term), sm$conf.int[term, "exp(coef)"])
    out(section, paste0("ci_low@", term), sm$conf.int[term, "lower .95"])
    out(section, paste0("ci_high@", term), sm$conf.int[term, "upper .95"])
    out(section, paste0("p@", term), sm$coefficients[term, "Pr(>|z|)"])
  }
}
cx("cox_os", Surv(os_days, os_event) ~ modality + augmentation + radiation_sequence + region)
cx("cox_sre", Surv(sre_days, sre_event == 1) ~ modality + augmentation + radiation_sequence + region)
