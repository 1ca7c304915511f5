"""What the demo's people say under ideas: customers' comments and authors' replies, the
team's official answers and internal notes, and the responses that come with a new status."""

CUSTOMER_COMMENTS = (
    "+1, we need this for our {dept} team.",
    "Same here. {Noun} would save us a couple of hours every week.",
    "Any update on this? It's been a while.",
    "Is there a workaround in the meantime?",
    "Workaround for now: we export everything and fix it up in a spreadsheet. Painful, but it "
    "works.",
    "We wrote a small script against the API as a stopgap. Happy to share it if anyone's "
    "interested.",
    "This is the main reason two of our teams still use a second tool.",
    "Our security review flagged this, so for us it matters for the renewal.",
    "Would this cover admins too, or only regular members?",
    "Upvoted. Please make it a per-workspace setting, not just a global one.",
    "Agree, but please keep the current behaviour as the default.",
    "Not sure I agree. I'd rather see performance work before {noun}.",
    "We'd use this daily. Right now people ping each other on Slack instead.",
    "Exactly what I was about to post. Adding my vote.",
    "Would love this too, especially for new hires during onboarding.",
    "Any chance this lands before the end of the quarter?",
    "How would this work with accounts that come from SSO?",
    "For context: we have about {size} users and at least half asked me about {noun} this month.",
    "What we do today:\n\n1. Keep a shared spreadsheet next to the project\n2. Copy things "
    "over every Friday\n\nIt's error-prone, so a built-in option would be great.",
    "Big yes from our side. **{Noun}** would be top of our internal wishlist.",
)
AUTHOR_REPLIES = (
    "Thanks for the workaround, that helps for now.",
    "Good question. For us it's mainly the {dept} team, but others would use it too.",
    "To clarify: even a basic version would already be a big step for us.",
    "Glad to see I'm not the only one!",
)
OFFICIAL_COMMENTS = (
    "Thanks for the detailed write-up! Could you tell us how often this comes up for your "
    "team? It helps us size {noun}.",
    "Quick update from the product team: we've talked to several of you about {noun} and the "
    "use cases are much clearer now. Keep the comments coming.",
    "We hear you. We haven't scheduled {noun} yet, but votes here are the main input to our "
    "quarterly planning.",
    "In the meantime, our help centre has a guide to the closest workaround. Reply here if it "
    "doesn't cover your case.",
)
INTERNAL_NOTES = (
    "A 200-seat customer asked about {noun} on their renewal call. Flagging for planning.",
    "Engineering estimate from the last refinement: roughly two sprints, mostly backend.",
    "Design wants to pair this with the settings redesign. Don't promise a date yet.",
    "Tracked internally as PROD-{ticket}.",
    "Three enterprise prospects mentioned {noun} in the last month (see CRM notes).",
)
AFTER_COMPLETED = (
    "Just tried it and it works great. Thank you!",
    "Nice! Any plans to take this further?",
    "Thanks for shipping this, it already saved us time this week.",
    "Finally! Our {dept} team is very happy.",
)
AFTER_DECLINED = (
    "That's a shame, but thanks for the clear answer.",
    "Disappointed, though I understand the reasoning.",
    "Fair enough. We'll keep using our workaround then.",
)
STAFF_COMMENTS = (
    "Looks good to me. Shall we try it on 10% of new workspaces first?",
    "I'd keep it behind a feature flag until support has seen the help article.",
    "Checked with support: they'd welcome this.",
    "Let's review the numbers after two weeks before going further.",
)
RESPONSES = {
    "under_review": (
        "Thanks everyone for the votes. We're reviewing {noun} with engineering this month and "
        "will post an update here.",
        "We're looking into this. Concrete examples of how you'd use it help a lot, so please "
        "add them below.",
    ),
    "planned": (
        "Thanks everyone, this is planned for Q3. We'll start with the basics and extend it "
        "based on your feedback.",
        "Good news: we've put {noun} on the roadmap for next quarter. We'll post here when a "
        "beta is ready.",
        "Planned! We're aiming for a first version within the next two releases. Follow this "
        "idea to hear when it ships.",
    ),
    "started": (
        "Work on {noun} has started. If you'd like to try an early build, reply here and we'll "
        "add your workspace to the beta.",
        "In progress: the design is done and the first pieces are in development.",
    ),
    "completed": (
        "This is live! You'll find {noun} on all plans from today. Thanks to everyone who voted "
        "and shared their use cases.",
        "Shipped in this week's release 🎉\n\n- Available to every workspace\n- Details are in "
        "the changelog\n\nLet us know what we should improve next.",
        "Done: we're rolling out {noun} to all workspaces over the next few days.",
    ),
    "declined": (
        "Thanks for the suggestion. We've decided not to build this: very few workspaces would "
        "use it, and it would make the settings harder for everyone else. The API covers most "
        "of these cases today.",
        "We're declining this for now. It conflicts with how permissions work in the product, "
        "and doing it safely would need a much larger redesign than it's worth right now.",
        "After a lot of discussion we're not going to do this. We'd rather keep the product "
        "focused, and an integration through webhooks is the better path here.",
        "Declining for now: this is better handled by a dedicated tool, and we don't want to "
        "ship a half-version of it. We'll revisit if the picture changes.",
    ),
}
SANDBOX_RESPONSES = {
    "completed": ("Shipped to everyone after the experiment. Thanks, all!",),
    "declined": ("The experiment didn't move the numbers, so we're dropping it.",),
}
DUPLICATE_RESPONSE = (
    "Merged into #{number}: please vote and comment there, so all the feedback is in one place."
)
