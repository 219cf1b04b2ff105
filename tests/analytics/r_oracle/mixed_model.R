# R oracle for the repeated-measures model (issue 16; analytics/stats/mixed_model.py).
# Usage: Rscript mixed_model.R rows.csv VARIABLE VISITS LEVELS SECTION
#   rows.csv: study_id, visit, change, baseline and the stratum column VARIABLE ("all" = none);
#   VISITS / LEVELS: comma-separated factor levels, reference first.
# Prints "SECTION<TAB>fe@term / se@term / tau2 / sigma2<TAB>value" lines like oracle.R.
# Packages: R 4.2.2, nlme 3.1 (Debian r-cran-nlme).
suppressPackageStartupMessages({ library(nlme) })
invisible(Sys.setlocale("LC_COLLATE", "C"))
args <- commandArgs(trailingOnly = TRUE)
out <- function(section, key, value) {
  cat(sprintf("%s\t%s\t%s\n", section, key, ifelse(is.na(value), "NA", sprintf("%.15g", value))))
}
d <- read.csv(args[1], stringsAsFactors = FALSE, colClasses = c(study_id = "character"))
variable <- args[2]
section <- args[5]
d$visit <- factor(d$visit, levels = strsplit(args[3], ",")[[1]])
if (variable == "all") {
  form <- change ~ visit + baseline
} else {
  d[[variable]] <- factor(as.character(d[[variable]]), levels = strsplit(args[4], ",")[[1]])
  form <- as.formula(paste("change ~ visit *", variable, "+ baseline"))
}
fit <- lme(form, random = ~ 1 | study_id, data = d, method = "REML",
           control = lmeControl(msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12))
tt <- summary(fit)$tTable
for (term in rownames(tt)) {
  out(section, paste0("fe@", term), tt[term, "Value"])
  out(section, paste0("se@", term), tt[term, "Std.Error"])
}
out(section, "tau2", as.numeric(getVarCov(fit))[1])
out(section, "sigma2", fit$sigma^2)
