//! Bounded page-number pagination: which page, how many, and the links around it.

/// Results per page on listing pages.
pub const PER_PAGE: i64 = 20;

/// The largest page number accepted; deeper pages are refused rather than scanned.
pub const MAX_PAGE: i64 = 500;

/// Where a page stands among all results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pagination {
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

impl Pagination {
    pub fn new(page: i64, per_page: i64, total: i64) -> Self {
        Self {
            page,
            per_page,
            total,
        }
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// The last page that can be asked for (pages beyond `MAX_PAGE` are refused).
    pub fn last_page(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).clamp(1, MAX_PAGE)
    }

    /// Whether this page lies beyond the results.
    pub fn is_past_end(&self) -> bool {
        self.total > 0 && self.offset() >= self.total
    }

    pub fn has_previous(&self) -> bool {
        self.page > 1
    }

    pub fn has_next(&self) -> bool {
        self.page < self.last_page()
    }

    /// Index of the first result shown (1-based), or 0 when there are none.
    pub fn first_shown(&self) -> i64 {
        if self.total == 0 {
            0
        } else {
            self.offset() + 1
        }
    }

    /// Index of the last result shown.
    pub fn last_shown(&self) -> i64 {
        (self.offset() + self.per_page).min(self.total)
    }

    /// Page numbers to link to, with `None` for a gap: `1 … 4 5 [6] 7 8 … 20`.
    pub fn window(&self) -> Vec<Option<i64>> {
        let last = self.last_page();
        let mut pages = Vec::new();
        let mut previous = 0;
        for page in 1..=last {
            let near = (page - self.page).abs() <= 2;
            if page == 1 || page == last || near {
                if page - previous > 1 {
                    pages.push(None);
                }
                pages.push(Some(page));
                previous = page;
            }
        }
        pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_bounds() {
        let page = Pagination::new(3, 20, 45);
        assert_eq!(page.offset(), 40);
        assert_eq!(page.last_page(), 3);
        assert_eq!((page.first_shown(), page.last_shown()), (41, 45));
        assert!(page.has_previous() && !page.has_next());
    }

    #[test]
    fn empty_result_has_one_page() {
        let page = Pagination::new(1, 20, 0);
        assert_eq!(page.last_page(), 1);
        assert_eq!(page.first_shown(), 0);
        assert!(!page.has_next());
    }

    #[test]
    fn pages_stop_at_the_largest_allowed() {
        let page = Pagination::new(MAX_PAGE, 20, 100_000);
        assert_eq!(page.last_page(), MAX_PAGE);
        assert!(!page.has_next());
        assert!(Pagination::new(9, 20, 45).is_past_end());
    }

    #[test]
    fn window_elides_far_pages() {
        let page = Pagination::new(6, 10, 200);
        assert_eq!(
            page.window(),
            vec![
                Some(1),
                None,
                Some(4),
                Some(5),
                Some(6),
                Some(7),
                Some(8),
                None,
                Some(20)
            ]
        );
    }
}
