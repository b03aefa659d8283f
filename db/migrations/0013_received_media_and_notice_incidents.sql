-- Media ids seen in a business's conversations (customers' files, and the business app's
-- echoes): GET /api/v1/media/{id} downloads only these. Kept by the "media" projection
-- from the message events, so `wazybot projections rebuild media` recreates it.
create table received_media (
    business_id text not null,
    media_id text not null,
    phone_number_id text not null,
    conversation_id text not null,
    media_type text not null,
    mime_type text,
    received_at timestamptz not null,
    primary key (business_id, media_id)
);

-- Open incidents of the team notices: one notice per cause (a business's expired token,
-- its dead letters...) until a send of that business is accepted or the incident is older
-- than the notice recorder's renewal period. Written with the recorder's checkpoint.
create table notice_incidents (
    business_id text not null,
    cause text not null,
    opened_at timestamptz not null,
    primary key (business_id, cause)
);
