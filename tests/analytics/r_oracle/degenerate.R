# R oracle for the degenerate cases of issue 12 (tests/analytics/r_oracle/degenerate.py).
# Usage: Rscript degenerate.R aliased.csv
# Prints "section<TAB>key<TAB>value" lines like oracle.R.
# Packages: R 4.2.2, survival 3.5.3 (Debian r-cran-*).
suppressPackageStartupMessages({ library(survival) })
invisible(Sys.setlocale("LC_COLLATE", "C"))
args <- commandArgs(trailingOnly = TRUE)
out <- function(section, key, value) {
  cat(sprintf("%s\t%s\t%s\n", section, key, ifelse(is.na(value), "NA", sprintf("%.15g", value))))
}

# Cox with aliased covariates: augmentation "implant" exactly when region "peripheral".
a <- read.csv(args[1], stringsAsFactors = FALSE)
a$augmentation <- relevel(factor(a$augmentation), "implant")
a$region <- relevel(factor(a$region), "peripheral")
sm <- summary(coxph(Surv(os_days, os_event) ~ augmentation + region, data = a, ties = "efron"))
for (term in rownames(sm$coefficients)) {
  out("cox_aliased", paste0("hr@", term), sm$conf.int[term, "exp(coef)"])
  out("cox_aliased", paste0("ci_low@", term), sm$conf.int[term, "lower .95"])
  out("cox_aliased", paste0("ci_high@", term), sm$conf.int[term, "upper .95"])
  out("cox_aliased", paste0("p@", term), sm$coefficients[term, "Pr(>|z|)"])
}

# Exact (Clopper-Pearson) 95% CIs of complication rates: binom.test on "k,n" rows.
if (length(args) >= 2) {
  b <- read.csv(args[2])
  for (i in seq_len(nrow(b))) {
    ci <- binom.test(b$k[i], b$n[i])$conf.int
    key <- paste0(b$k[i], "/", b$n[i])
    out("binom", paste0("ci_low@", key), ci[1]); out("binom", paste0("ci_high@", key), ci[2])
  }
}

# Gray's test (cmprsk::cuminc $Tests, cause 1 = SRE): args[3] tie-free cohort by modality,
# args[4] the 40-patient oracle cohort (tied SREs) by every stratification variable.
suppressPackageStartupMessages(library(cmprsk))
gray <- function(section, d, v) {
  tst <- cuminc(d$sre_days, d$sre_event, group = d[[v]], cencode = 0)$Tests
  out(section, paste0("stat@", v), tst["1", "stat"]); out(section, paste0("p@", v), tst["1", "pv"])
}
if (length(args) >= 3) gray("gray_untied", read.csv(args[3], stringsAsFactors = FALSE), "modality")
if (length(args) >= 4) {
  co <- read.csv(args[4], stringsAsFactors = FALSE)
  for (v in c("site", "modality", "augmentation", "radiation_sequence", "region")) gray("gray_tied", co, v)
}
