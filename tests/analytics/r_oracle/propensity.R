# R oracle for analytics.stats.propensity (issue 16).
# Usage: Rscript propensity.R design.csv outcomes.csv
#   design.csv:   treated, x1..xk (the Python design matrix without its intercept, in column order)
#   outcomes.csv: treated, w (stabilised weights of the trimmed patients), os_days, os_event, sre_days, sre_event
# Prints "section<TAB>key<TAB>value": glm coefficients and SEs, weighted coxph (robust = TRUE) coefficient and
# robust SE for OS and the cause-specific SRE hazard, weighted survfit KM (OS) and Aalen-Johansen (SRE, death
# competing) per arm at every time.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
design <- read.csv(args[1])
out <- read.csv(args[2])
emit <- function(section, key, value) cat(section, "\t", key, "\t", format(value, digits = 15), "\n", sep = "")

ps <- glm(treated ~ ., data = design, family = binomial(), control = glm.control(epsilon = 1e-14, maxit = 100))
est <- coef(summary(ps))
for (i in seq_len(nrow(est))) {
  emit("glm", paste0("coef@", i - 1), est[i, 1])
  emit("glm", paste0("se@", i - 1), est[i, 2])
}

out$sre_cs <- as.integer(out$sre_event == 1)
for (endpoint in c("os", "sre")) {
  f <- if (endpoint == "os") {
    coxph(Surv(os_days, os_event) ~ treated, data = out, weights = w, robust = TRUE, ties = "efron")
  } else {
    coxph(Surv(sre_days, sre_cs) ~ treated, data = out, weights = w, robust = TRUE, ties = "efron")
  }
  emit(paste0("cox_", endpoint), "coef", coef(f)[1])
  emit(paste0("cox_", endpoint), "robust_se", sqrt(vcov(f)[1, 1]))
  emit(paste0("cox_", endpoint), "naive_se", sqrt(f$naive.var[1, 1]))
}

for (arm in c(1, 0)) {
  sub <- out[out$treated == arm, ]
  km <- survfit(Surv(os_days, os_event) ~ 1, data = sub, weights = w)
  for (i in seq_along(km$time)) emit(paste0("km_os_", arm), paste0("surv@", km$time[i]), km$surv[i])
  aj <- survfit(Surv(sre_days, factor(sre_event, levels = 0:2)) ~ 1, data = sub, weights = w)
  for (i in seq_along(aj$time)) emit(paste0("aj_sre_", arm), paste0("cif@", aj$time[i]), aj$pstate[i, 2])
}
